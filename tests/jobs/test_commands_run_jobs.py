"""Each pipeline command runs the registered job a page starts (issue 15): the same task, a job row like a page's."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.commands.library import enrich_command, import_library_command
from app.extensions import db
from app.jobs import registry
from app.storage.tables import Job, LibraryItem
from tests.auth.helpers import add_user


@pytest.fixture
def seen(monkeypatch):
    """Every (kind, context) a registered task is called with, the task itself still doing the work."""
    calls: list[tuple[str, registry.JobContext]] = []
    registry.load_tasks()
    for kind in ("enrich", "import-library"):
        real = registry._TASKS[kind]

        def spy(ctx, real=real, kind=kind):  # noqa: ANN001,ANN202
            calls.append((kind, ctx))
            return real(ctx)

        monkeypatch.setitem(registry._TASKS, kind, spy)
    return calls


def _job(app) -> Job:
    with app.app_context():
        return db.session.scalars(select(Job)).one()


def test_flask_enrich_runs_the_enrich_job_and_records_it_for_nobody(app, seen):
    result = app.test_cli_runner().invoke(enrich_command, ["--providers", "deezer", "--json"])
    assert result.exit_code == 0, result.output
    assert [kind for kind, _ in seen] == ["enrich"]
    job = _job(app)
    assert (job.kind, job.status, job.user_id, job.params) == ("enrich", "succeeded", None, {"providers": ["deezer"]})
    assert job.result["api_calls"] == json.loads(result.output.strip().splitlines()[-1])["api_calls"]
    assert job.worker, "the row names the process that ran it"


def test_flask_import_library_hands_the_job_the_operators_file_and_keeps_it(app, seen, tmp_path):
    owner = add_user(app, "mira.s")
    path = tmp_path / "likes.csv"
    path.write_text("artist,title\nLuma Vale,Night Drive\nOtto Reis,Glass\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(import_library_command,
                                          ["--user", "mira.s", "--file", str(path), "--no-match", "--json"])
    assert result.exit_code == 0, result.output
    [(kind, ctx)] = seen
    assert kind == "import-library" and ctx.user_id == owner and ctx.local["file"] == str(path)
    assert ctx.params["match"] is False and ctx.params["file"] == str(path)
    job = _job(app)
    assert (job.kind, job.status, job.user_id) == ("import-library", "succeeded", owner)
    assert path.exists(), "a file the operator named is theirs: only uploads are deleted after import"
    with app.app_context():
        assert len(db.session.scalars(select(LibraryItem).where(LibraryItem.user_id == owner)).all()) == 2


def test_a_page_cannot_point_the_import_job_at_a_file_outside_its_uploads(app, tmp_path):
    from app.jobs import runner
    from tests.jobs.conftest import wait_for

    owner = add_user(app, "mira.s")
    path = tmp_path / "elsewhere.csv"
    path.write_text("artist,title\nLuma Vale,Night Drive\n", encoding="utf-8")
    try:
        with app.app_context():
            job_id = runner.submit("import-library", {"file": str(path), "match": False}, owner)
        job = wait_for(app, job_id, owner)
        assert job["status"] == "failed" and "not found among your uploads" in job["error"], job
        assert path.exists()
    finally:
        runner.shutdown(app)
