"""Reliability helpers: fault tallies from a running sandbox, and the run's data as comparable sets."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests
from sqlalchemy import select

from app.storage.tables import TrackFeatures
from tests.pipeline.test_harvest import snapshot
from tests.pipeline.test_library import final_data


class FaultTally:
    """Counts the faults a sandbox injects, by kind and status (`error 503`, `hang 504`, `storm 429`, ...).

    The sandbox counts requests but not faults, so this wraps its in-process injector's `draw`.
    """

    def __init__(self, server) -> None:  # noqa: ANN001  (a SandboxServer)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        injector = server.sandbox.faults
        draw = injector.draw

        def counting(service: str, method: str):  # noqa: ANN202
            fault = draw(service, method)
            if fault.kind is not None:
                with self._lock:
                    self.counts[f"{fault.kind} {fault.status}"] += 1
                    if fault.kind == "storm" and fault.retry_after > 60:
                        self.counts["storm 429 with a Retry-After spike"] += 1
            return fault

        injector.draw = counting

    def by_kind(self) -> dict[str, int]:
        """5xx, timeouts (hang then 504), malformed JSON and 429s, as SECURITY.md reports them."""
        with self._lock:
            counts = dict(self.counts)
        return {"5xx": sum(n for k, n in counts.items() if k.startswith("error ")),
                "timeouts": counts.get("hang 504", 0), "malformed": counts.get("malformed 200", 0),
                "429": counts.get("storm 429", 0), "429 spikes": counts.get("storm 429 with a Retry-After spike", 0)}


def all_data(factory) -> dict[str, set]:  # noqa: ANN001
    """Everything a harvest + import + enrich leaves, without ids or timestamps (see the pipeline tests)."""
    items, matches, features = final_data(factory)
    return {**snapshot(factory), "library items": items, "matches": matches, "features": features}


def feature_rows(factory) -> list[tuple[int, str]]:  # noqa: ANN001
    with factory() as session:
        return list(session.execute(select(TrackFeatures.track_id, TrackFeatures.provider)).tuples())


def user_token(server, user_id: str) -> str:  # noqa: ANN001
    """An access token for a sandbox user (the consent round trip of tests/pipeline's `token_for`, module-scoped use)."""
    from urllib.parse import parse_qs, urlencode, urlsplit

    from sandbox.runner import consent
    from tests.pipeline.conftest import SCOPES

    redirect = "http://127.0.0.1:5000/callback"
    url = server.authorize_url + "?" + urlencode({"client_id": "sandbox-client", "response_type": "code",
                                                  "redirect_uri": redirect, "scope": SCOPES, "state": "x"})
    code = parse_qs(urlsplit(consent(url, user_id)).query)["code"][0]
    answer = requests.post(server.token_url, auth=("sandbox-client", "sandbox-secret"),
                           data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect})
    answer.raise_for_status()
    return answer.json()["access_token"]


from tests.production.conftest import processes, redis_url  # noqa: E402,F401  (fixtures reused by the kill tests)

# The job the kill and outage tests run: a small harvest with Deezer features (seconds under Deezer's limit).
HARVEST_JOB = {"contexts": ["workout", "sleep", "party"], "playlists_per_context": 2, "tracks_per_playlist": 12,
               "providers": ["deezer"]}


@pytest.fixture(scope="session")
def clean_harvest(small_world, tmp_path_factory) -> dict[str, set]:
    """HARVEST_JOB run once on the in-process runner, never disturbed: what every disturbed run must end with."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from app.jobs import runner
    from sandbox.runner import SandboxServer
    from tests.auth.helpers import add_user, sandbox_app
    from tests.jobs.conftest import dispose, wait_for

    instance = tmp_path_factory.mktemp("clean-harvest")
    url = f"sqlite:///{instance}/clean.db"
    with SandboxServer(world=small_world, scale="small", clip_seconds=1.0) as sandbox:
        app = sandbox_app({"CONTEXTIFY_INSTANCE_DIR": str(instance), "DATABASE_URL": url,
                           "SECRET_KEY": "test-secret-key", "TESTING": "1"}, sandbox)
        try:
            user_id = add_user(app, "mira.s")
            with app.app_context():
                job_id = runner.submit("harvest", HARVEST_JOB, user_id)
            assert wait_for(app, job_id, user_id, timeout=180)["status"] == "succeeded"
        finally:
            runner.shutdown(app)
            dispose(app)
    engine = create_engine(url)
    data = all_data(sessionmaker(bind=engine, expire_on_commit=False))
    engine.dispose()
    return data
