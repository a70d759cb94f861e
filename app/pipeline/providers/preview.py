"""The `preview` provider: audio descriptors computed locally from a track's Deezer preview, in worker processes.

`PreviewAnalysis` is the download-and-analyse machinery every audio provider shares (`musicnn` too):
a preview is downloaded once per run whichever of them analyse it or upload it (`RunClients.downloads`).
"""

from __future__ import annotations

import io
import random
import struct
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import requests

from app.pipeline.clients.base import NotFound, ServiceError
from app.pipeline.providers.base import FeatureResult, TrackRef
from app.pipeline.providers.run import RunClients

# Preview links are signed for about 15 minutes; a link older than this is fetched anew before use.
FRESH_LINK_S = 10 * 60
DOWNLOAD_THREADS = 6
DOWNLOAD_ATTEMPTS = 4
DOWNLOAD_TIMEOUT = (5.0, 30.0)
MAX_PREVIEW_BYTES = 5 * 1024 * 1024  # a 30-s 128 kbit/s MP3 is about 480 KB
MIN_TEMPO, MAX_TEMPO = 30.0, 300.0


class Broken(Exception):
    """One preview could not be had; `status` is failed or unavailable and the message is plain words."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class PreviewAnalysis:
    """Downloads previews on threads and analyses them on a process pool, yielding results as they finish.

    The preview URL is never stored: it comes from this run's `/track/{id}` answer while fresh, else
    from a new one; a 403 from the CDN (expired or refused link) gets one more try with a new link.
    Subclasses name the analysis: `analyser` (a module-level function of the MP3's bytes, run in a
    worker process) and `result` (its outcome as a FeatureResult).
    """

    def __init__(self, clients: RunClients, backoff_s: float = 0.3) -> None:
        self.clients = clients
        self.backoff_s = backoff_s
        self._reserved: set[int] = set()

    def can_fetch(self, track: TrackRef) -> bool:
        return track.deezer_id is not None

    @staticmethod
    def analyser(data: bytes) -> Any:
        raise NotImplementedError

    def result(self, track: TrackRef, outcome: Any) -> FeatureResult:
        raise NotImplementedError

    def reserve(self, tracks: Iterable[TrackRef]) -> None:
        """Announce the previews `fetch` will read, before any analyser starts, so each is downloaded once."""
        ids = [t.deezer_id for t in tracks if t.deezer_id is not None and t.deezer_id not in self._reserved]
        self._reserved.update(ids)
        self.clients.downloads.expect(ids)

    def fetch(self, tracks: Iterable[TrackRef]) -> Iterator[FeatureResult]:
        pending_tracks = list(tracks)
        if not pending_tracks:
            return
        with self.sharing(pending_tracks) as untaken:
            yield from self._fetch(pending_tracks, untaken)

    @contextmanager
    def sharing(self, tracks: list[TrackRef]) -> Iterator[set]:
        """Reserve the tracks' previews for one fetch; yields the ids not taken yet (`shared_download` takes them).

        On leaving (done, stopped early, crashed, switched off) the previews never taken are given up,
        so the other analysers need not keep them in memory for this one.
        """
        self.reserve(tracks)
        untaken = {t.deezer_id for t in tracks}
        try:
            yield untaken
        finally:
            self.clients.downloads.release(untaken & self._reserved)
            self._reserved -= {t.deezer_id for t in tracks}

    def shared_download(self, track: TrackRef, untaken: set) -> bytes:
        """The track's preview from the run's shared downloads (fetched once for every analyser), or Broken."""
        def download() -> bytes | Broken:
            try:
                return self.download(track)
            except Broken as exc:  # kept as a value: every analyser gets the same reason without a retry
                return exc

        untaken.discard(track.deezer_id)
        outcome = self.clients.downloads.take(track.deezer_id, download)
        if isinstance(outcome, Broken):
            raise outcome
        return outcome

    def _fetch(self, pending_tracks: list[TrackRef], untaken: set) -> Iterator[FeatureResult]:
        analysis = self.clients.analysis_pool()
        # Downloads run ahead of analysis only so far: clips waiting for a core are held in memory.
        ahead = 2 * self.clients.analysis_workers + DOWNLOAD_THREADS
        with ThreadPoolExecutor(DOWNLOAD_THREADS, thread_name_prefix="preview-download") as downloads:
            running: dict[Future, tuple[str, TrackRef]] = {}
            queue = iter(pending_tracks)
            while True:
                while len(running) < ahead:
                    track = next(queue, None)
                    if track is None:
                        break
                    running[downloads.submit(self.shared_download, track, untaken)] = ("download", track)
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    stage, track = running.pop(future)
                    try:
                        outcome = future.result()
                    except Broken as exc:
                        yield FeatureResult(track.id, exc.status, None, str(exc))
                        continue
                    except Exception as exc:  # noqa: BLE001  (a crashed worker fails this track, not the run)
                        yield FeatureResult.failed(track.id, f"the audio analysis crashed ({type(exc).__name__})")
                        continue
                    if stage == "download":
                        running[analysis.submit(self.analyser, outcome)] = ("analysis", track)
                    else:
                        yield self.result(track, outcome)

    def download(self, track: TrackRef) -> bytes:
        """The preview's bytes, complete, or Broken saying why not."""
        answers = self.clients.answers
        try:
            url = _preview_url(answers.track(track.deezer_id, max_age_s=FRESH_LINK_S))
            refreshed = False
            for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
                outcome = self._get(url)
                if isinstance(outcome, bytes):
                    return outcome
                if outcome == 403 and not refreshed:
                    # The signed link expired or was refused: fetch the track again for a fresh one.
                    url, refreshed = _preview_url(answers.refetch_track(track.deezer_id)), True
                elif outcome == 403:
                    raise Broken("failed", "the preview link was refused twice (HTTP 403)")
                elif outcome == 404:
                    raise Broken("unavailable", "the preview is gone (HTTP 404)")
                elif attempt < DOWNLOAD_ATTEMPTS:
                    time.sleep(self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random()))
            raise Broken("failed", f"the preview download kept failing ({outcome})")
        except NotFound:
            raise Broken("unavailable", "Deezer no longer has this track") from None
        except ServiceError as exc:
            raise Broken("failed", str(exc)) from None

    def _get(self, url: str) -> bytes | int | str:
        """Complete bytes, an HTTP status to act on, or a description of a transient problem."""
        try:
            response = self.clients.previews.get(url, timeout=DOWNLOAD_TIMEOUT)
        except (requests.ConnectionError, requests.Timeout) as exc:
            return f"no answer ({type(exc).__name__})"
        if response.status_code in (403, 404):
            return response.status_code
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        data = response.content
        if len(data) > MAX_PREVIEW_BYTES:
            raise Broken("failed", f"the preview is implausibly large ({len(data)} bytes)")
        if _cut_short(data):
            return "the download was cut short"
        return data


def _preview_url(answer: Any) -> str:
    url = answer.get("preview") if isinstance(answer, dict) else None
    if not isinstance(url, str) or not url.startswith("http"):
        raise Broken("unavailable", "Deezer offers no preview for this track")
    return url


def _cut_short(data: bytes) -> bool:
    """True when the MP3's Xing/Info header announces more bytes than arrived (a dropped connection).

    A truncated MP3 still decodes, just shorter, and would silently give other descriptors.
    """
    head = data[:256]
    for tag in (b"Xing", b"Info"):
        at = head.find(tag)
        if at >= 0 and len(head) >= at + 16:
            flags = struct.unpack(">I", head[at + 4:at + 8])[0]
            if flags & 0x2:  # the frames field comes first when present
                offset = at + 8 + (4 if flags & 0x1 else 0)
                declared = struct.unpack(">I", head[offset:offset + 4])[0]
                return len(data) < declared
    return False


def analyse_clip(data: bytes) -> dict[str, float] | str:
    """In a worker process: descriptors of an MP3, or a plain-words reason it could not be analysed."""
    import soundfile as sf

    from app.pipeline.audio_features import analyse_audio, decode_audio

    try:
        y, sr = decode_audio(data)
        declared = sf.info(io.BytesIO(data)).frames
    except Exception as exc:  # noqa: BLE001  (any decoder error means: not audio we can read)
        return f"the preview is not decodable audio ({type(exc).__name__})"
    if declared > 0 and len(y) < 0.97 * declared:
        return "the preview audio is shorter than its header says (cut short)"
    if len(y) < sr // 2:
        return "the preview is shorter than half a second"
    return analyse_audio(y, sr)


def _analysis_result(track: TrackRef, outcome: dict[str, float] | str) -> FeatureResult:
    if isinstance(outcome, str):
        return FeatureResult.failed(track.id, outcome)
    tempo = outcome.get("tempo", 0.0)
    if not MIN_TEMPO <= tempo <= MAX_TEMPO:
        return FeatureResult.failed(track.id, f"no beat found in the preview (tempo {tempo})")
    return FeatureResult.ok(track.id, outcome)


class PreviewProvider(PreviewAnalysis):
    """Audio descriptors (tempo, loudness, timbre, key) of each track's preview."""

    name = "preview"
    version = "2"  # 2: tempo octave choice, tuning before chroma, chroma statistics
    analyser = staticmethod(analyse_clip)

    def result(self, track: TrackRef, outcome: Any) -> FeatureResult:
        return _analysis_result(track, outcome)
