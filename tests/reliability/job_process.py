"""One process of the in-process job runner, run by the kill tests: start (or resume) a harvest job, wait for its end.

`python -m tests.reliability.job_process JOB_FILE USER_ID PARAMS_JSON` with the app's settings in the
environment. Without JOB_FILE it submits the job and writes its id there; with it, this process is the
restart after a kill: it runs the sweep (the killed process's heartbeat is known to be dead, so without the
usual STALE_AFTER_S wait) and resumes the job. Prints the final job as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from app import create_app
from app.jobs import runner

FINISHED = ("succeeded", "failed", "cancelled")


def main(job_file: str, user_id: int, params: dict) -> int:
    app = create_app()
    path = Path(job_file)
    with app.app_context():
        if path.exists():
            job_id = path.read_text().strip()
            runner.mark_interrupted(stale_after_s=0)
            if not runner.resume(job_id, user_id):
                print(json.dumps({"error": "not resumable", "job": runner.job_status(job_id, user_id)}))
                return 1
        else:
            job_id = runner.submit("harvest", params, user_id)
            path.write_text(job_id)
        while (job := runner.job_status(job_id, user_id))["status"] not in FINISHED:
            time.sleep(0.2)
    print(json.dumps(job))
    runner.shutdown(app)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])))
