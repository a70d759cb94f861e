"""Uploaded library files are kept only while an import needs them: a refused start leaves nothing on disk."""

from __future__ import annotations

import base64

from app.dash_views import ids
from app.extensions import db
from app.jobs.tasks import upload_dir
from app.storage.tables import Job
from tests.auth.helpers import add_user, session_login
from tests.dash_views.helpers import call, outputs


def test_an_upload_whose_import_is_refused_is_not_kept(app, client):
    me = add_user(app, "mira.s")
    session_login(client, me)
    with app.app_context():  # an import is already going, so a second one is refused
        db.session.add(Job(user_id=me, kind="import-library", status="running", params={}))
        db.session.commit()
    data = base64.b64encode(b"artist,title\nBand,Song\n").decode()
    answer = outputs(call(client, f"{ids.LIBRARY_MESSAGE}.children", {
        f"{ids.LIBRARY_UPLOAD}.contents": f"data:text/csv;base64,{data}",
        f"{ids.LIBRARY_UPLOAD}.filename": "likes.csv"}, changed=[f"{ids.LIBRARY_UPLOAD}.contents"]))
    assert "already running" in answer[f"{ids.LIBRARY_MESSAGE}.children"]
    folder = upload_dir(app.config, me)
    assert not folder.exists() or not any(folder.iterdir()), list(folder.iterdir())
