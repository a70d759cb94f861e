"""The pretrained MSD musicnn network (Pons & Serra 2019) as a numpy forward pass over the weights of the `musicnn` wheel.

The `musicnn` package on PyPI ships TensorFlow 1 checkpoints but its code needs TensorFlow <= 2.15 and
numpy < 2. This module re-implements its inference graph (musicnn/models.py, `build_musicnn` with the
MSD_musicnn sizes) and its input (musicnn/extractor.py, `batch_data`) with numpy and librosa, reading
the checkpoint with `tf_checkpoint`; tests/pipeline/test_musicnn_parity.py holds it to the original.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import threadpool_limits

from app.pipeline.tf_checkpoint import read_checkpoint

SR = 16000
N_FFT, HOP, N_MELS = 512, 256, 96
PATCH_FRAMES = 187          # 3 s: librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256) + 1
BN_EPSILON = 1e-3           # tf.compat.v1.layers.batch_normalization's default
MODEL = "MSD_musicnn"
EMBEDDING_SIZE = 200
DEAD_CHANNEL = 1e-6        # largest possible contribution of a skipped front-end filter
PATCHES_PER_BATCH = 4      # the mid-end unfolds ~3 MB of windows per patch
#: A clip's averages are taken over 4 of its 3-s patches, spread over its inside (the first and last patch left out):
#: for a 30-s preview, patches 2, 4, 7 and 9 of 10, 40% of the network's cost, which is most of a preview's analysis
#: (the whole wait, BENCHMARKS.md 6, is bound by the cores' analysis). On emotify_dev (artist-grouped folds, through
#: the CLI, genre accuracy / mood AUC): these four 0.720 / 0.770, every other patch (version msd-2) 0.705 / 0.749, all
#: ten 0.700 / 0.753, four spread from the first to the last 0.695 / 0.767, three inside ones 0.710 / 0.749, three
#: from first to last 0.660 / 0.749; the plain logistic regression ranks them alike. Chosen among those six on the
#: same 200 clips, so the edge over every other patch is within the set's noise (SE about 0.03); the cost is not.
PATCHES_USED = 4


def patches_used(count: int) -> list[int]:
    """Which of a clip's `count` patches its averages take: PATCHES_USED spread over all but the first and last."""
    if count <= 2:
        return list(range(count))
    return sorted(set(np.linspace(1, count - 2, min(PATCHES_USED, count - 2)).round().astype(int).tolist()))

# musicnn/configuration.py, MSD_LABELS, in the network's output order.
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock",
    "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
    "indie pop", "sad", "House", "happy")


def tag_key(tag: str) -> str:
    """The feature name of a tag: `tag_` and the tag in lower-case words joined by `_` ("tag_hip_hop")."""
    return "tag_" + re.sub(r"[^a-z0-9]+", "_", tag.lower()).strip("_")


TAG_KEYS = tuple(tag_key(tag) for tag in MSD_TAGS)
EMBEDDING_KEYS = tuple(f"emb_{i:03d}" for i in range(EMBEDDING_SIZE))


class WeightsMissing(RuntimeError):
    """The `musicnn` wheel (which carries the weights) is not installed; the message says how to install it."""


def weights_prefix() -> Path:
    """Where the installed `musicnn` wheel keeps the MSD_musicnn checkpoint (found without importing it)."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or spec.origin is None:
        raise WeightsMissing("the musicnn weights are not installed: run `make install` "
                             "(pip install --no-deps -r requirements-weights.txt)")
    folder = Path(spec.origin).parent / MODEL
    if not (folder / ".index").is_file():
        raise WeightsMissing(f"the musicnn package has no {MODEL} checkpoint at {folder}")
    return folder


@functools.lru_cache(maxsize=1)
def load_weights() -> dict[str, np.ndarray]:
    """The network's variables as float32 arrays (optimizer slots dropped), read once per process."""
    tensors = read_checkpoint(str(weights_prefix()) + "/")
    return {name: value.astype(np.float32) for name, value in tensors.items()
            if "Adam" not in name and name not in ("beta1_power", "beta2_power", "global_step")}


def log_mel_patches(y: np.ndarray, sr: int) -> np.ndarray:
    """The network's input: log-compressed mel patches (patches, 187 frames, 96 bands) of a mono clip.

    As musicnn's `batch_data`: mel power at 16 kHz cast to float16, log10(10000 x + 1), cut into
    non-overlapping 3-s patches (the tail shorter than a patch is dropped). A clip shorter than one
    patch is repeated to fill it, the way the network was trained ("repeat-pad").
    """
    import librosa  # here, not at the top: config asks weights_prefix() without paying for librosa's import

    y = np.asarray(y, dtype=np.float32)
    if sr != SR:
        y = librosa.resample(y, orig_sr=sr, target_sr=SR, res_type="soxr_hq")
    # librosa.feature.melspectrogram's computation, with the filterbank built once per process.
    power = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    mel = (_mel_filterbank() @ power).T
    mel16 = mel.astype(np.float16)
    with np.errstate(over="ignore"):
        rep = np.log10(10000 * mel16 + 1)
    if not np.all(np.isfinite(rep)):  # float16 overflows above 6.5 (very loud bass); the original gave inf
        rep = np.log10(10000 * mel16.astype(np.float32) + 1).astype(np.float16)
    rep = rep.astype(np.float32)
    if len(rep) < PATCH_FRAMES:
        rep = np.tile(rep, (int(np.ceil(PATCH_FRAMES / max(len(rep), 1))), 1))
    count = len(rep) // PATCH_FRAMES
    return rep[:count * PATCH_FRAMES].reshape(count, PATCH_FRAMES, N_MELS)


@functools.lru_cache(maxsize=1)
def _mel_filterbank() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS)


def run_network(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tag probabilities (patches, 50), penultimate embedding (patches, 200)) of a batch of patches.

    Patches go through the network a few at a time: the layers after the first take the batch in one
    matrix product, and a bounded batch keeps the mid-end's unfolded windows (about 3 MB per patch) small.
    The cost is the first layers' matrix products (about 1.1 of 1.3 GMAC per patch after skipping
    dead filters), which numpy's BLAS already runs near the core's peak.
    """
    net = _network()
    patches = np.asarray(patches, dtype=np.float32)
    tags, embeddings = [], []
    with threadpool_limits(limits=1, user_api="blas"):  # clips run in parallel worker processes
        for start in range(0, len(patches), PATCHES_PER_BATCH):
            t, e = net.forward(patches[start:start + PATCHES_PER_BATCH])
            tags.append(t)
            embeddings.append(e)
    return np.concatenate(tags), np.concatenate(embeddings)


def analyse(y: np.ndarray, sr: int) -> dict[str, float]:
    """Per clip: the 50 tag probabilities and the 200-d embedding, each averaged over the `patches_used` patches."""
    patches = log_mel_patches(y, sr)
    tags, embedding = run_network(patches[patches_used(len(patches))])
    values = dict(zip(TAG_KEYS, (float(v) for v in tags.mean(axis=0))))
    values.update(zip(EMBEDDING_KEYS, (float(v) for v in embedding.mean(axis=0))))
    return values


class _Affine:
    """A batch norm with its moving statistics folded into one scale and shift per channel."""

    def __init__(self, w: dict[str, np.ndarray], name: str) -> None:
        self.scale = (w[f"{name}/gamma"] / np.sqrt(w[f"{name}/moving_variance"] + BN_EPSILON)).astype(np.float32)
        self.shift = (w[f"{name}/beta"] - w[f"{name}/moving_mean"] * self.scale).astype(np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x *= self.scale
        x += self.shift
        return x


class _FrontConv:
    """A front-end conv -> relu -> batch norm -> max over frequency, with the pooling done first.

    Batch norm is a per-channel affine map and relu is monotone, so the max over frequency of the
    normalised output is the map of the max of the conv where the norm's scale is positive and of the
    min where it is negative. The min is taken as the max of the negated filter, so one max serves
    every channel and the norm only touches the pooled (time, channel) array.
    """

    def __init__(self, w: dict[str, np.ndarray], conv: str, bn: str, input_bound: float) -> None:
        kernel = w[f"{conv}/kernel"]
        kernel = kernel.reshape(-1, kernel.shape[-1])
        norm = _Affine(w, bn)
        # Training left some filters with a batch-norm scale near 1e-12: their output is a constant to far
        # below float32 resolution. A filter is skipped (its output set to the norm's shift) when scale x the
        # largest value its relu can reach stays under DEAD_CHANNEL; that bound is exact, not estimated.
        reach = np.abs(kernel).sum(axis=0) * input_bound + np.abs(w[f"{conv}/bias"])
        self.live = np.abs(norm.scale) * reach >= DEAD_CHANNEL
        self.constant = norm.shift.copy()
        self.sign = np.where(w[f"{bn}/gamma"][self.live] >= 0, 1.0, -1.0).astype(np.float32)
        self.kernel = np.ascontiguousarray(kernel[:, self.live] * self.sign)
        self.bias = w[f"{conv}/bias"][self.live]
        self.norm = norm
        self.channels = self.live.size

    def _finish(self, z: np.ndarray) -> np.ndarray:
        """Pooled (rows, live channels) -> relu, batch norm -> (rows, channels) with the skipped ones constant."""
        z *= self.sign
        z += self.bias
        np.maximum(z, 0, out=z)
        out = np.empty((len(z), self.channels), np.float32)
        out[:] = self.constant
        out[:, self.live] = z * self.norm.scale[self.live] + self.norm.shift[self.live]
        return out

    def __call__(self, windows: np.ndarray, frames: int, positions: int) -> np.ndarray:
        """windows: (frames x positions, kernel values) -> (frames, channels)."""
        return self._finish((windows @ self.kernel).reshape(frames, positions, -1).max(axis=1))


class _TemporalConv(_FrontConv):
    """A front-end conv along time only (1 band x `length` frames, "same"), its max taken over the bands.

    Computed a block of TIME_BLOCK frames at a time as one matrix product of each band's stretch of input with a
    banded (Toeplitz) copy of the kernel, which reads the input where it lies. Unfolding every frame's window
    first (frames x taps per band) copied nearly three times the product's own time for the 128-frame filters.
    """

    TIME_BLOCK = 16

    def __init__(self, w: dict[str, np.ndarray], conv: str, bn: str, input_bound: float, length: int) -> None:
        super().__init__(w, conv, bn, input_bound)
        self.length = length
        live = self.kernel.shape[1]
        banded = np.zeros((self.TIME_BLOCK + length - 1, self.TIME_BLOCK, live), np.float32)
        for frame in range(self.TIME_BLOCK):   # output frame i of a block reads input frames i .. i + length - 1
            banded[frame:frame + length, frame] = self.kernel
        self.banded = banded.reshape(self.TIME_BLOCK + length - 1, self.TIME_BLOCK * live)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: the normalised input (patches, frames, bands) -> (patches x frames, channels)."""
        p, block, live = len(x), self.TIME_BLOCK, self.kernel.shape[1]
        blocks = -(-PATCH_FRAMES // block)
        before = (self.length - 1) // 2  # TensorFlow's "same" puts the odd sample of padding after
        after = blocks * block - PATCH_FRAMES + self.length - 1 - before  # the last block's frames past the end
        bands = np.pad(x, ((0, 0), (before, after), (0, 0))).transpose(0, 2, 1).copy().reshape(p * N_MELS, -1)
        z = np.empty((p, blocks * block, live), np.float32)
        for start in range(0, blocks * block, block):
            stretch = bands[:, start:start + block + self.length - 1]
            z[:, start:start + block] = (stretch @ self.banded).reshape(p, N_MELS, block, live).max(axis=1)
        return self._finish(z[:, :PATCH_FRAMES].reshape(p * PATCH_FRAMES, live))


class _DenseConv:
    """A mid-end conv over time across all front-end features (7 frames, "same") -> relu -> batch norm."""

    def __init__(self, w: dict[str, np.ndarray], conv: str, bn: str) -> None:
        kernel = w[f"{conv}/kernel"]                                  # (7, features, 1, 64)
        self.kernel = np.ascontiguousarray(kernel.reshape(-1, kernel.shape[-1]))
        self.bias, self.norm = w[f"{conv}/bias"], _Affine(w, bn)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: (patches, 187, features) -> (patches, 187, 64)."""
        p, t, f = x.shape
        padded = np.pad(x, ((0, 0), (3, 3), (0, 0)))
        # (patches, time, features, 7) -> rows of 7 frames x features, in the kernel's (tap, feature) order
        windows = sliding_window_view(padded, 7, axis=1).transpose(0, 1, 3, 2).reshape(p * t, 7 * f)
        z = windows @ self.kernel
        z += self.bias
        np.maximum(z, 0, out=z)
        return self.norm(z).reshape(p, t, -1)


class _Network:
    """MSD_musicnn's inference graph over prepared weights: front end, mid end, back end."""

    TIMBRAL = (("conv2d", "batch_normalization_1", 38), ("conv2d_1", "batch_normalization_2", 67))
    TEMPORAL = (("conv2d_2", "batch_normalization_3", 128), ("conv2d_3", "batch_normalization_4", 64),
                ("conv2d_4", "batch_normalization_5", 32))

    def __init__(self, w: dict[str, np.ndarray]) -> None:
        self.input_norm = _Affine(w, "batch_normalization")
        # The largest |input| the front end can see: the normalised log-mel of float16's largest power.
        bound = float(np.abs(self.input_norm.scale * np.log10(10000 * 65504.0 + 1) + self.input_norm.shift).max()
                      + np.abs(self.input_norm.shift).max())
        self.timbral = [(_FrontConv(w, conv, bn, bound), width) for conv, bn, width in self.TIMBRAL]
        self.temporal = [_TemporalConv(w, conv, bn, bound, length) for conv, bn, length in self.TEMPORAL]
        self.mid = [_DenseConv(w, f"conv2d_{i}", f"batch_normalization_{i + 1}") for i in (5, 6, 7)]
        self.pooled_norm = _Affine(w, "batch_normalization_9")
        self.dense = (w["dense/kernel"], w["dense/bias"], _Affine(w, "batch_normalization_10"))
        self.output = (w["dense_1/kernel"], w["dense_1/bias"])

    def forward(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = len(patches)
        x = self.input_norm(patches.copy())                                       # (p, 187, 96)
        timbral = np.empty((p, PATCH_FRAMES, sum(conv.channels for conv, _ in self.timbral)), np.float32)
        for i, patch in enumerate(np.pad(x, ((0, 0), (3, 3), (0, 0)))):
            # One patch at a time: its unfolded windows (12 MB) stay in cache and the matrix
            # product is already big enough; unfolding a batch at once measured slower.
            at = 0
            for conv, width in self.timbral:
                positions = N_MELS - width + 1
                windows = sliding_window_view(patch, (7, width)).reshape(PATCH_FRAMES * positions, -1)
                timbral[i, :, at:at + conv.channels] = conv(windows, PATCH_FRAMES, positions)
                at += conv.channels
        front = [timbral.reshape(p * PATCH_FRAMES, -1)]
        front.extend(conv(x) for conv in self.temporal)
        features = np.concatenate(front, axis=1).reshape(p, PATCH_FRAMES, -1)   # (p, 187, 561)
        mids = [features]
        for i, conv in enumerate(self.mid):
            out = conv(mids[-1])
            mids.append(out if i == 0 else out + mids[-1])
        features = np.concatenate(mids, axis=2)                                  # (p, 187, 753)
        pooled = np.stack([features.max(axis=1), features.mean(axis=1)], axis=2).reshape(p, -1)  # max, mean
        pooled = self.pooled_norm(pooled)
        kernel, bias, norm = self.dense
        penultimate = norm(np.maximum(pooled @ kernel + bias, 0))
        kernel, bias = self.output
        logits = penultimate @ kernel + bias
        return 1.0 / (1.0 + np.exp(-logits)), penultimate


@functools.lru_cache(maxsize=1)
def _network() -> _Network:
    return _Network(load_weights())
