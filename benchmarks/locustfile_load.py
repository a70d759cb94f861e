"""Locust sessions for the load test: log in through OAuth, browse every page, and now and then start a job.

Run by `benchmarks.load`: BENCH_USERS (sandbox users, shared round-robin), BENCH_PAGES (/app/... paths);
BENCH_LOCUST_OUT names the JSON file of counts (answers by status, visits, jobs started or refused).
"""

from __future__ import annotations

import itertools
import os
import random

from locust import HttpUser, between, events, task

from benchmarks.dash_client import DashSession, login
from benchmarks.locust_common import COUNTS, write_counts
from benchmarks.web import visit

USERS = itertools.cycle(os.environ.get("BENCH_USERS", "mira.s,jonas.b,ana.k").split(","))
PAGES = [p for p in os.environ.get("BENCH_PAGES", "/app/").split(",") if p]
CONTEXTS = ("workout", "study", "sleep", "party", "focus", "rainy day", "road trip", "edm")


class Browser(HttpUser):
    """A person using contextify: mostly reading pages, sometimes starting a harvest, an import or a sort."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        login(self.client, self.host, next(USERS), name=True)
        COUNTS["sessions_logged_in"] += 1
        self.dash = DashSession(self.client, self.host, named=True)
        self.rng = random.Random()
        # Everyone arrives wanting something done: the first action is always a job (all at once, the
        # harshest moment for job creation), whatever the weights pick afterwards.
        next(FIRST_JOBS)(self)

    @task(6)
    def browse(self) -> None:
        visit(self.dash, self.rng.choice(PAGES), self.rng)
        COUNTS["page_visits"] += 1

    @task(1)
    def harvest(self) -> None:
        """Contexts page: add a context, ask for a small harvest (1 playlist of up to 10 tracks), start it."""
        self.dash.load("/app/contexts")
        COUNTS["page_visits"] += 1
        self.dash.set("context-input.value", self.rng.choice(CONTEXTS))
        self.dash.set("context-add.n_clicks", 1)
        self.dash.props.setdefault("harvest-playlists", {})["value"] = 1
        self.dash.props.setdefault("harvest-tracks", {})["value"] = 10
        self._start("harvest", "harvest-start.n_clicks", "harvest-job-store")

    @task(1)
    def import_library(self) -> None:
        self.dash.load("/app/library")
        COUNTS["page_visits"] += 1
        self._start("import", "library-import.n_clicks", "library-job-store")

    @task(1)
    def sort(self) -> None:
        self.dash.load("/app/sort")
        COUNTS["page_visits"] += 1
        if not self.dash.props.get("sort-start", {}).get("disabled"):
            self._start("sort", "sort-start.n_clicks", "sort-job-store")

    def _start(self, kind: str, button: str, store: str) -> None:
        """Click the start button; a new job id in the page's store means a job was started."""
        before = self.dash.props.get(store, {}).get("data")
        component, _, prop = button.rpartition(".")
        self.dash.set(button, (self.dash.props.get(component, {}).get(prop) or 0) + 1)
        after = self.dash.props.get(store, {}).get("data")
        COUNTS[f"{kind}_started" if after and after != before else f"{kind}_refused"] += 1


FIRST_JOBS = itertools.cycle((Browser.harvest, Browser.import_library))


@events.quitting.add_listener
def _write(environment, **_kwargs) -> None:  # noqa: ANN001
    write_counts()
