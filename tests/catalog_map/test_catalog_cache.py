"""The Map's catalog is built once for all the server's workers and built again whenever labels or features change."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import select, update

from app.analysis.cache import FolderCache
from app.dash_views import catalog_map as page
from app.extensions import db
from app.services import catalog_map
from app.storage.tables import TrackFeatures


def test_a_folder_cache_builds_once_for_every_process_and_keeps_only_the_newest_version(tmp_path):
    built = []

    def build(value):
        return lambda: built.append(value) or pd.DataFrame({"v": [value]})

    first, second = FolderCache(tmp_path), FolderCache(tmp_path)  # two workers sharing the instance folder
    assert first.get("catalog", (1, 2), build(1))["v"].tolist() == [1]
    assert second.get("catalog", (1, 2), build(99))["v"].tolist() == [1], "read from the folder, not rebuilt"
    assert second.get("catalog", (1, 3), build(2))["v"].tolist() == [2]
    assert built == [1, 2] and len(list(tmp_path.glob("catalog-*.pickle"))) == 1, "the old version is removed"
    only = next(tmp_path.glob("catalog-*.pickle"))
    only.write_bytes(b"half-written")
    assert first.get("catalog", (1, 3), build(3))["v"].tolist() == [3], "an unreadable file is built again"
    assert not list(tmp_path.glob("*.part"))


def test_the_map_reads_a_changed_catalog_after_features_are_refreshed_in_place(catalog_app, monkeypatch):
    with catalog_app.test_request_context("/app/map"):
        before = page.load_catalog()
        assert page.load_catalog() is before, "kept in memory between renders"
        version = catalog_map.catalog_version(db.session)
        row = db.session.scalar(select(TrackFeatures).where(TrackFeatures.provider == "deezer").limit(1))
        db.session.execute(update(TrackFeatures).where(TrackFeatures.id == row.id).values(
            values={**row.values, "gain": 123.0}, fetched_at=datetime(2100, 1, 1, tzinfo=UTC)))
        db.session.commit()
        assert catalog_map.catalog_version(db.session) != version
        after = page.load_catalog()
        assert after.loc[row.track_id, "deezer_gain"] == 123.0
        page_cache = catalog_app.extensions[page.CACHE]
        page_cache._items.clear()  # another worker: nothing in its memory, the folder has the frame
        monkeypatch.setattr(catalog_map, "catalog_frame", lambda session: 1 / 0)
        assert page.load_catalog().equals(after)
