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

import librosa
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
    y = np.asarray(y, dtype=np.float32)
    if sr != SR:
        y = librosa.resample(y, orig_sr=sr, target_sr=SR, res_type="soxr_hq")
    mel = librosa.feature.melspectrogram(y=y, sr=SR, hop_length=HOP, n_fft=N_FFT, n_mels=N_MELS).T
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


def run_network(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tag probabilities (patches, 50), penultimate embedding (patches, 200)) of a batch of patches."""
    w = load_weights()
    with threadpool_limits(limits=1, user_api="blas"):  # clips run in parallel worker processes
        results = [_forward(w, patch) for patch in patches]
    return np.stack([r[0] for r in results]), np.stack([r[1] for r in results])


def analyse(y: np.ndarray, sr: int) -> dict[str, float]:
    """Per clip: the 50 tag probabilities and the 200-d embedding, each averaged over its 3-s patches."""
    tags, embedding = run_network(log_mel_patches(y, sr))
    values = dict(zip(TAG_KEYS, (float(v) for v in tags.mean(axis=0))))
    values.update(zip(EMBEDDING_KEYS, (float(v) for v in embedding.mean(axis=0))))
    return values


def _bn(w: dict[str, np.ndarray], name: str, x: np.ndarray) -> np.ndarray:
    scale = w[f"{name}/gamma"] / np.sqrt(w[f"{name}/moving_variance"] + BN_EPSILON)
    return x * scale + (w[f"{name}/beta"] - w[f"{name}/moving_mean"] * scale)


def _conv_pool(w: dict[str, np.ndarray], conv: str, bn: str, windows: np.ndarray) -> np.ndarray:
    """conv (as one matrix product over the windows) -> relu -> batch norm -> max over frequency.

    windows: (time, freq positions, kernel values). Batch norm is a per-channel affine map, so its max
    over frequency is the map of the max where the scale is positive and of the min where it is not:
    pooling first spares the norm the big tensor.
    """
    kernel = w[f"{conv}/kernel"]
    t, f = windows.shape[:2]
    z = windows.reshape(t * f, -1) @ kernel.reshape(-1, kernel.shape[-1])
    z = z.reshape(t, f, -1)
    high, low = z.max(axis=1), z.min(axis=1)
    bias = w[f"{conv}/bias"]
    high, low = np.maximum(high + bias, 0), np.maximum(low + bias, 0)
    positive = w[f"{bn}/gamma"] >= 0
    return _bn(w, bn, np.where(positive, high, low))


def _forward(w: dict[str, np.ndarray], patch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = _bn(w, "batch_normalization", patch)                                     # (187, 96)
    padded = np.pad(x, ((3, 3), (0, 0)))
    timbral = [_conv_pool(w, conv, bn, sliding_window_view(padded, (7, width)).reshape(
        PATCH_FRAMES, N_MELS - width + 1, -1))
        for conv, bn, width in (("conv2d", "batch_normalization_1", 38), ("conv2d_1", "batch_normalization_2", 67))]
    temporal = []
    for conv, bn, length in (("conv2d_2", "batch_normalization_3", 128), ("conv2d_3", "batch_normalization_4", 64),
                             ("conv2d_4", "batch_normalization_5", 32)):
        before = (length - 1) // 2  # TensorFlow's "same" puts the odd sample of padding after
        padded_t = np.pad(x, ((before, length - 1 - before), (0, 0)))
        windows = sliding_window_view(padded_t, length, axis=0)                 # (187, 96, length)
        temporal.append(_conv_pool(w, conv, bn, windows))
    front = np.concatenate(timbral + temporal, axis=1)                          # (187, 561)

    def dense_conv(conv: str, bn: str, features: np.ndarray) -> np.ndarray:
        windows = sliding_window_view(np.pad(features, ((3, 3), (0, 0))), 7, axis=0)  # (187, F, 7)
        z = windows.transpose(0, 2, 1).reshape(PATCH_FRAMES, -1) @ w[f"{conv}/kernel"].reshape(-1, 64)
        return _bn(w, bn, np.maximum(z + w[f"{conv}/bias"], 0))

    mid1 = dense_conv("conv2d_5", "batch_normalization_6", front)
    mid2 = dense_conv("conv2d_6", "batch_normalization_7", mid1) + mid1
    mid3 = dense_conv("conv2d_7", "batch_normalization_8", mid2) + mid2
    features = np.concatenate([front, mid1, mid2, mid3], axis=1)                # (187, 753)
    pooled = np.stack([features.max(axis=0), features.mean(axis=0)], axis=1).reshape(-1)  # max, mean per feature
    pooled = _bn(w, "batch_normalization_9", pooled)
    penultimate = _bn(w, "batch_normalization_10", np.maximum(pooled @ w["dense/kernel"] + w["dense/bias"], 0))
    logits = penultimate @ w["dense_1/kernel"] + w["dense_1/bias"]
    return 1.0 / (1.0 + np.exp(-logits)), penultimate
