"""The whole-wait benchmark's previews: the sandbox's own bytes, kept on disk, and the scenario's songs."""

from __future__ import annotations

from benchmarks.cdn import DiskPreviews, scenario_tracks
from sandbox.audio import render_preview
from sandbox.runner import cached_world


def test_a_clip_on_disk_is_the_sandbox_clip_and_is_served_from_disk(tmp_path):
    world = cached_world(42, "small")
    tracks = [t for t in world.tracks.values() if t.character is not None][:2]
    previews = DiskPreviews(world, seconds=1.0, folder=tmp_path)

    assert previews.fill(tracks, workers=1) == 2
    assert previews.missing(tracks) == [] and previews.fill(tracks, workers=1) == 0
    assert previews(tracks[0], seconds=1.0) == render_preview(tracks[0], seconds=1.0)
    previews.path(tracks[1]).write_bytes(b"kept")          # what is on disk is what is served
    assert previews(tracks[1], seconds=1.0) == b"kept"
    assert previews(tracks[1], seconds=2.0) != b"kept"     # another length is rendered, not read


def test_the_scenario_holds_the_liked_songs_and_the_playlists_a_search_finds():
    world = cached_world(42, "small")
    chosen = {t.deezer_id for t in scenario_tracks(world, "ana.k", ["rock"])}

    liked = {i for i, _added in world.users["ana.k"].liked if world.tracks[i].on_deezer}
    assert liked <= chosen
    rock = [p for p in world.deezer_playlists.values() if p.public and "rock" in p.title.lower()]
    assert rock and all(set(p.track_ids[:5]) & set(world.tracks) <= chosen for p in rock)
