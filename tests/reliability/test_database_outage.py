"""The database away for a few seconds: pages answer a plain 503, Dash callbacks a JSON 503, jobs go on, data whole.

The shared PostgreSQL server is never stopped: the app reaches it through a TCP proxy in this process,
which the test cuts (every open connection dropped, new ones refused) and restores.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import pytest
from sqlalchemy.engine import make_url

from app.jobs import execution, runner
from tests.auth.helpers import add_user, sandbox_app, session_login
from app.dash_views import ids
from tests.jobs.conftest import dispose, wait_for
from tests.reliability.conftest import all_data
from tests.reliability.conftest import HARVEST_JOB
from tests.reliability.test_kills import factory_for

OUTAGE_S = 4.0


class CuttableProxy:
    """A TCP proxy on loopback to `target`; `cut()` drops every connection and refuses new ones until `restore()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            doomed = list(self._sockets)
            self._sockets.clear()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept(); close() alone does not
            listener.close()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxied(postgres_url):
    url = make_url(postgres_url)
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    proxy.cut()


def test_pages_and_callbacks_answer_503_in_plain_words_while_the_database_is_away(app_config, sandbox, proxied):
    proxy, url = proxied
    app = sandbox_app({**app_config, "DATABASE_URL": url}, sandbox)
    me = add_user(app, "mira.s")
    client = app.test_client()
    session_login(client, me)
    try:
        assert client.get("/").status_code == 200
        request_body = _save_playlists_request(client, ids)  # read the callback map while the database is there
        proxy.cut()
        page = client.get("/")
        assert page.status_code == 503 and page.mimetype == "text/html"
        assert int(page.headers["Retry-After"]) > 0
        text = page.get_data(as_text=True)
        assert "cannot reach its database" in text and "may not have been saved" in text and "Traceback" not in text
        assert "Nothing was lost" not in text  # not known when the database is locked or gone
        answer = client.post("/app/_dash-update-component", json=request_body)
        assert answer.status_code == 503 and answer.is_json, answer.get_data(as_text=True)[:300]
        message = answer.get_json()["message"]
        assert answer.get_json()["error"] == "database unavailable"
        assert re.fullmatch(r"contextify cannot reach its database right now, so this request was not carried out "
                            r"and what you just did may not have been saved\. Try again after \d\d:\d\d UTC( on .*)?\.",
                            message), message
        proxy.restore()
        assert client.get("/").status_code == 200, "the next request after the outage works (stale connections dropped)"
    finally:
        dispose(app)


def _save_playlists_request(client, ids):  # noqa: ANN001,ANN202
    from tests.dash_views.helpers import dependencies, find_callback, payload

    dep = find_callback(dependencies(client), f"{ids.SAVE_PLAYLISTS}.children")
    return payload(dep, {f"{ids.SAVE_DONE_STORE}.data": {"id": "x"}}, changed=[f"{ids.SAVE_DONE_STORE}.data"])


def test_a_job_rides_out_a_database_outage_and_ends_with_the_clean_runs_data(app_config, start_sandbox, proxied,
                                                                          clean_harvest, monkeypatch):
    monkeypatch.setattr(execution, "DATABASE_RETRY_PAUSES_S", (1.0, 2.0, 4.0, 8.0))
    proxy, url = proxied
    sandbox = start_sandbox(latency_ms=40, latency_jitter_ms=10)
    app = sandbox_app({**app_config, "DATABASE_URL": url}, sandbox)
    me = add_user(app, "mira.s")
    try:
        with app.app_context():
            job_id = runner.submit("harvest", HARVEST_JOB, me)
        job = wait_for(app, job_id, me, statuses=("running",))
        while not job["progress"].get("tracks labelled", {}).get("done"):
            job = wait_for(app, job_id, me, statuses=("running", "succeeded"))
            time.sleep(0.05)
        assert job["status"] == "running", "the outage starts mid-job"
        proxy.cut()
        time.sleep(OUTAGE_S)
        proxy.restore()
        job = wait_for(app, job_id, me, timeout=180)
        assert job["status"] == "succeeded", job
        assert runner.DATABASE_RETRY_NOTE in job["log"], job["log"]
        assert all_data(factory_for(url)) == clean_harvest
    finally:
        runner.shutdown(app)
        dispose(app)
