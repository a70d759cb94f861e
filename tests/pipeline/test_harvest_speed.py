"""Measures (does not assert) harvest wall time against Deezer's rate-limit floor; run with CONTEXTIFY_MEASURE=1."""

from __future__ import annotations

import os

import pytest

from app.pipeline.clients.deezer import DeezerClient, deezer_limiter
from app.pipeline.harvest import Clients, HarvestOptions, harvest
from app.runs.summary import RunSummary
from tests.pipeline.test_harvest import CONTEXTS, new_db  # noqa: F401  (new_db: a fixture)

pytestmark = pytest.mark.skipif(os.environ.get("CONTEXTIFY_MEASURE") != "1",
                                reason="a measurement at the real rate limit; set CONTEXTIFY_MEASURE=1")


@pytest.mark.parametrize("tracks_per_playlist", [100, 300])
def test_measure_wall_time_against_the_rate_limit_floor(start_sandbox, full_world, new_db, tracks_per_playlist):
    sandbox = start_sandbox(world=full_world)  # Deezer's real quota: 50 requests per 5 s
    summary = RunSummary("harvest")
    harvest(new_db(), CONTEXTS, Clients(DeezerClient(sandbox.deezer_url, limiter=deezer_limiter())),
            HarvestOptions(tracks_per_playlist=tracks_per_playlist), summary=summary)
    wall = summary.as_dict()["wall_s"]
    calls = summary.api_calls["deezer"]
    floor = calls / 10  # 50 per 5 s
    assert calls == sandbox.counters()["deezer"]["total"]
    print(f"\n{len(CONTEXTS)} contexts x 10 playlists, {tracks_per_playlist} tracks each: {calls} calls, "
          f"{wall:.2f} s, floor {floor:.2f} s, ratio {wall / floor:.2f}; "
          f"steady state after the first 50 free calls: floor {(calls - 50) / 10:.2f} s")
