"""Contract: the sandbox over real recordings (emotify_dev) serves their files as signed expiring previews, draws
playlists from their labels, answers truth with the labels, and has no audio features for them anywhere."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import requests

from sandbox.audio_world import AudioWorldError, cached_audio_world, read_metadata, world_from_audio
from sandbox.runner import SandboxServer
from tests.real_audio import emotify_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def real_world():
    return cached_audio_world(str(emotify_dir()))


@pytest.fixture
def real_sandbox(real_world):
    server = SandboxServer(world=real_world, scale="small", profile="extended", preview_ttl=1).start()
    yield server
    server.stop()


def test_every_recording_is_a_track_labelled_from_its_metadata(real_world):
    meta = pd.read_csv(emotify_dir() / "metadata.csv")
    assert len(real_world.tracks) == len(meta)
    by_file = {Path(t.audio_file).relative_to(emotify_dir().resolve()).as_posix(): t for t in real_world.tracks.values()}
    assert set(by_file) == set(meta["file"])
    row = meta.iloc[0]
    track = by_file[row["file"]]
    assert track.title == row["title"] and real_world.artists[track.artist_ids[0]].name == row["artist"]
    assert real_world.albums[track.album_id].title == row["album"]
    assert track.labels["genre"] == row["genre"] and track.contexts == frozenset(track.labels.values())
    # The derived mood is the argmax of the three factor means of the GEMS votes.
    calm = row[["amazement", "solemnity", "tenderness", "nostalgia", "calmness"]].mean()
    energetic, tense = row[["power", "joyful_activation"]].mean(), row[["tension", "sadness"]].mean()
    assert track.labels["mood"] == ["calm", "energetic", "tense_sad"][
        max(range(3), key=lambda i: (calm, energetic, tense)[i])]
    assert real_world.contexts == ["calm", "classical", "electronic", "energetic", "pop", "rock", "tense_sad"]
    assert len({t.isrc for t in real_world.tracks.values()}) == len(real_world.tracks)
    assert all(t.character is None and t.reccobeats_id is None and t.bpm == 0 for t in real_world.tracks.values())


def test_public_playlists_are_drawn_from_the_labels_the_way_people_make_them(real_world):
    playlists = list(real_world.deezer_playlists.values())
    titles = Counter(p.context for p in playlists)
    assert set(titles) == set(real_world.contexts) and min(titles.values()) >= 3
    sizes = [len(p.track_ids) for p in playlists]
    assert min(sizes) <= 10 and max(sizes) >= 40, sizes          # varied sizes
    assert len({p.title for p in playlists}) >= 0.6 * len(playlists)  # named variously
    purity = [sum(p.context in real_world.tracks[t].contexts for t in p.track_ids) / len(p.track_ids)
              for p in playlists]
    assert sum(share < 1 for share in purity) >= 5 and min(purity) >= 0.7   # some tracks do not belong
    assert any("studying" in p.title.lower() for p in playlists if p.context == "classical") or \
        any(" " in p.title for p in playlists)
    # Tracks sit in several playlists, across label columns (a calm classical piece is in both kinds).
    memberships = Counter(t for p in playlists for t in p.track_ids)
    assert sum(n >= 2 for n in memberships.values()) >= 50
    users = real_world.users
    assert [u for u in users if users[u].allow_listed] == ["mira.s", "jonas.b", "ana.k"]
    mira = [real_world.tracks[t] for t, _ in users["mira.s"].liked]
    assert len(mira) >= 60 and len({t.labels["genre"] for t in mira}) == 4, "a library mixes the labels"


def test_preview_serves_the_files_bytes_signed_and_expiring(real_sandbox, real_world):
    track = next(iter(real_world.tracks.values()))
    body = requests.get(f"{real_sandbox.deezer_url}track/{track.deezer_id}", timeout=10).json()
    assert body["bpm"] == 0 and "hdnea=exp=" in body["preview"]
    audio = requests.get(body["preview"], timeout=10)
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/mpeg"
    assert audio.content == Path(track.audio_file).read_bytes()
    assert requests.get(body["preview"].replace("hmac=", "hmac=0"), timeout=10).status_code == 403
    time.sleep(2.1)
    assert requests.get(body["preview"], timeout=10).status_code == 403
    fresh = requests.get(f"{real_sandbox.deezer_url}track/{track.deezer_id}", timeout=10).json()["preview"]
    assert requests.get(fresh, timeout=10).content == audio.content


def test_a_longer_or_other_format_file_is_cut_to_a_30_second_mp3(tmp_path):
    import numpy as np
    import soundfile as sf

    from sandbox.audio_world import real_preview
    for i in range(4):
        sf.write(tmp_path / f"{i}.wav", np.sin(np.arange(22050 * 40) * (0.05 + i / 100)).astype("float32"), 22050)
    (tmp_path / "metadata.csv").write_text("file,genre\n" + "".join(f"{i}.wav,{'ab'[i % 2]}\n" for i in range(4)))
    world = world_from_audio(tmp_path)
    clip = real_preview(next(iter(world.tracks.values())))
    assert clip[:3] == b"ID3" or clip[0] == 0xFF
    y, sr = sf.read(__import__("io").BytesIO(clip))
    assert 29.0 <= len(y) / sr <= 30.5


def test_truth_answers_with_the_recordings_labels(real_sandbox, real_world):
    tracks = list(real_world.tracks.values())[:3]
    answer = requests.get(f"{real_sandbox.url}/__sandbox__/truth", timeout=10, params={
        "spotify_ids": ",".join(t.spotify_id for t in tracks)}).json()["tracks"]
    for track in tracks:
        entry = answer[track.spotify_id]
        assert entry["labels"] == track.labels and entry["contexts"] == sorted(track.labels.values())
        assert entry["character"] is None and entry["recording"] is True


def test_no_service_has_audio_features_for_real_recordings(real_sandbox, real_world, spotify_as):
    track = next(iter(real_world.tracks.values()))
    recco = requests.get(f"{real_sandbox.reccobeats_url}audio-features", params={"ids": track.spotify_id}, timeout=10)
    assert recco.status_code == 200 and recco.json()["content"] == []
    spotify = spotify_as(real_sandbox, "mira.s")   # even the extended profile (an old app) gets none
    assert spotify.audio_features([track.spotify_id]) == [None]
    liked = spotify.current_user_saved_tracks(limit=50)
    assert liked["total"] == len(real_world.users["mira.s"].liked) and len(liked["items"]) == 50


@pytest.mark.parametrize("setup, expected", [
    (lambda d: None, "no metadata.csv"),
    (lambda d: (d / "metadata.csv").write_text("path,genre\na.mp3,rock\n"), "no `file` column"),
    (lambda d: (d / "metadata.csv").write_text("file,genre\nmissing.mp3,rock\n"), "missing or not audio"),
    (lambda d: (d / "metadata.csv").write_text("file,colour\n"), "neither a `genre` nor a `mood`"),
])
def test_bad_metadata_is_a_plain_error(tmp_path, setup, expected):
    setup(tmp_path)
    with pytest.raises(AudioWorldError, match=re.escape(expected)):
        read_metadata(tmp_path)


def test_unknown_label_column_is_a_plain_error():
    with pytest.raises(AudioWorldError, match="label column.*instrument"):
        read_metadata(emotify_dir(), ["genre", "instrument"])


def test_cli_bad_dir_is_a_usage_error_not_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sandbox", "--port", "0", "--audio-dir", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "has no metadata.csv" in result.stderr
    result = subprocess.run([sys.executable, "-m", "sandbox", "--audio-dir", str(tmp_path / "nope")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_cli_serves_the_real_audio_world(real_world):
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--scale", "small", "--audio-dir", str(emotify_dir()),
         "--label-columns", "genre,mood"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        first = process.stdout.readline()
        assert "200 recordings" in first and "tense_sad" in first, first
        match = re.search(r"(http://127\.0\.0\.1:\d+)", process.stdout.readline())
        assert match
        world = requests.get(f"{match.group(1)}/__sandbox__/world", timeout=10).json()
        assert world["sizes"]["tracks"] == 200 and world["contexts"] == real_world.contexts
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_recording_whose_file_went_missing_is_a_404_like_the_cdn(tmp_path):
    import numpy as np
    import soundfile as sf

    for i in range(4):
        sf.write(tmp_path / f"{i}.wav", np.zeros(22050, dtype="float32"), 22050)
    (tmp_path / "metadata.csv").write_text("file,genre\n" + "".join(f"{i}.wav,{'ab'[i % 2]}\n" for i in range(4)))
    world = world_from_audio(tmp_path)
    with SandboxServer(world=world, scale="small") as server:
        # About 15% of Deezer tracks have no preview at all (readable: false): take one that has a link.
        answers = [(track, requests.get(f"{server.deezer_url}track/{track.deezer_id}", timeout=10).json())
                   for track in world.tracks.values()]
        track, answer = next((t, a) for t, a in answers if a.get("preview"))
        Path(track.audio_file).unlink()
        assert requests.get(answer["preview"], timeout=10).status_code == 404
