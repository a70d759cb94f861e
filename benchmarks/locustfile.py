"""Locust sessions for area 5: listeners who log in through the sandbox's OAuth consent, then review and browse.

Run by `benchmarks.web` (never by hand needed): BENCH_USERS (comma list of sandbox users, shared round-robin),
BENCH_PAGES (comma list of /app/... paths); BENCH_LOCUST_OUT names the JSON file of counts written at the end.
"""

from __future__ import annotations

import itertools
import os
import random

from locust import HttpUser, between, events, task

from benchmarks.dash_client import DashSession, login, page_name
from benchmarks.locust_common import COUNTS, write_counts
from benchmarks.web import BROWSE_WEIGHT, REVIEW_WEIGHT, THINK_S, listener_step, visit

USERS = itertools.cycle(os.environ.get("BENCH_USERS", "mira.s").split(","))
PAGES = [p for p in os.environ.get("BENCH_PAGES", "/app/explore").split(",") if p]
SORT = next((p for p in PAGES if page_name(p) == "sort"), None)
OTHERS = [p for p in PAGES if p != SORT] or PAGES


class Listener(HttpUser):
    """One listener's browser tab: logged in once, then mostly reviewing on Library & sort, now and then another
    page, with a person's pause between two actions (see benchmarks.web.THINK_S)."""

    wait_time = between(*THINK_S)

    def on_start(self) -> None:
        login(self.client, self.host, next(USERS), name=True)
        COUNTS["sessions_logged_in"] += 1
        self.dash = DashSession(self.client, self.host, named=True)
        self.rng = random.Random()

    @task(REVIEW_WEIGHT)
    def review(self) -> None:
        if SORT is None:
            return self.browse()
        if self.dash.page != "sort":  # back to the review: the page is loaded first, as a browser does
            self.dash.load(SORT)
            COUNTS["page_visits"] += 1
            return None
        listener_step(self.dash, self.rng)
        COUNTS["review_actions"] += 1
        return None

    @task(BROWSE_WEIGHT)
    def browse(self) -> None:
        visit(self.dash, self.rng.choice(OTHERS), self.rng)
        COUNTS["page_visits"] += 1


@events.quitting.add_listener
def _write(environment, **_kwargs) -> None:  # noqa: ANN001
    write_counts()
