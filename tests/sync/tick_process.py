"""One web process's sync scheduler, run by the exactly-once test: `python -m tests.sync.tick_process TICKS`.

Builds the app from the environment (PostgreSQL, the Redis broker) and ticks TICKS times, as the in-process
scheduler of a web process does; prints the ids of the sync jobs this process started as JSON.
"""

from __future__ import annotations

import json
import random
import sys
import time

from app import create_app
from app.jobs.sync_schedule import app_tick


def main(ticks: int) -> int:
    app = create_app()
    started: list[str] = []
    for _ in range(ticks):
        started += app_tick(app)
        time.sleep(random.uniform(0, 0.2))
    print(json.dumps(started))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
