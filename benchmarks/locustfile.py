"""Locust sessions for area 5: log in through the sandbox's OAuth consent, then visit the pages as a browser does.

Run by `benchmarks.web` (never by hand needed): BENCH_USERS (comma list of sandbox users, shared round-robin),
BENCH_PAGES (comma list of /app/... paths); BENCH_LOCUST_OUT names the JSON file of counts written at the end.
"""

from __future__ import annotations

import itertools
import os
import random

from locust import HttpUser, between, events, task

from benchmarks.dash_client import DashSession, login
from benchmarks.locust_common import COUNTS, write_counts
from benchmarks.web import visit

USERS = itertools.cycle(os.environ.get("BENCH_USERS", "mira.s").split(","))
PAGES = [p for p in os.environ.get("BENCH_PAGES", "/app/explore").split(",") if p]


class PageVisitor(HttpUser):
    """One browser tab: logged in once, then page after page with a short pause to read."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        login(self.client, self.host, next(USERS), name=True)
        COUNTS["sessions_logged_in"] += 1
        self.dash = DashSession(self.client, self.host, named=True)
        self.rng = random.Random()
        self.pages = itertools.cycle(random.sample(PAGES, len(PAGES)))

    @task
    def next_page(self) -> None:
        visit(self.dash, next(self.pages), self.rng)
        COUNTS["page_visits"] += 1


@events.quitting.add_listener
def _write(environment, **_kwargs) -> None:  # noqa: ANN001
    write_counts()
