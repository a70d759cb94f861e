"""What every locustfile here counts besides locust's own stats: answers by status code, logins, visits, jobs."""

from __future__ import annotations

import json
import os
from collections import Counter

from locust import events

COUNTS: Counter[str] = Counter()
STATUSES: Counter[str] = Counter()


@events.request.add_listener
def _status(response=None, exception=None, **_kwargs) -> None:  # noqa: ANN001
    code = getattr(response, "status_code", None)
    STATUSES[str(code) if code else f"no answer ({type(exception).__name__})"] += 1


def write_counts() -> None:
    """Write the counts to BENCH_LOCUST_OUT (JSON), for the benchmark that started locust."""
    path = os.environ.get("BENCH_LOCUST_OUT")
    if path:
        with open(path, "w") as handle:
            json.dump({**COUNTS, "statuses": dict(STATUSES)}, handle)
