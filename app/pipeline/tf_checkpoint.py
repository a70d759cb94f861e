"""A reader of TensorFlow checkpoints (tensor bundles: a `.index` SSTable plus `.data-*` shards) without TensorFlow."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# TensorFlow's DataType enum values we can meet in a checkpoint of plain float layers.
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64}
_FOOTER_BYTES = 48
_MAGIC = 0xdb4775248b80fb57  # LevelDB table magic, the format the bundle's index is written in


class CheckpointError(ValueError):
    """The files are not a tensor bundle this reader understands (compressed, sliced, other dtype)."""


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the bundle at `prefix` (the path without `.index`), by variable name."""
    prefix = str(prefix)
    index = Path(prefix + ".index").read_bytes()
    entries = {key: _parse_entry(value) for key, value in _table_items(index) if key}
    shards: dict[int, bytes] = {}
    tensors: dict[str, np.ndarray] = {}
    for name, entry in entries.items():
        shard = entry.get("shard_id", 0)
        if shard not in shards:
            count = _shard_count(entries)
            shards[shard] = Path(f"{prefix}.data-{shard:05d}-of-{count:05d}").read_bytes()
        dtype = _DTYPES.get(entry.get("dtype", 0))
        if dtype is None:
            raise CheckpointError(f"tensor {name} has an unsupported dtype {entry.get('dtype')}")
        offset, size = entry.get("offset", 0), entry.get("size", 0)
        array = np.frombuffer(shards[shard], dtype=dtype, count=size // np.dtype(dtype).itemsize, offset=offset)
        tensors[name] = array.reshape(entry.get("shape", ())).copy()
    return tensors


def _shard_count(entries: dict[str, dict]) -> int:
    return max(entry.get("shard_id", 0) for entry in entries.values()) + 1


def _table_items(data: bytes) -> list[tuple[str, bytes]]:
    """The key/value pairs of a LevelDB-format table (uncompressed blocks, as TensorFlow writes them)."""
    if len(data) < _FOOTER_BYTES or struct.unpack("<Q", data[-8:])[0] != _MAGIC:
        raise CheckpointError("not a tensor bundle index (bad table footer)")
    footer = data[-_FOOTER_BYTES:]
    _meta_offset, pos = _varint(footer, 0)
    _meta_size, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    items = []
    for _key, handle in _block_items(_block(data, index_offset, index_size)):
        offset, at = _varint(handle, 0)
        size, _ = _varint(handle, at)
        items.extend((key.decode("utf-8"), value) for key, value in _block_items(_block(data, offset, size)))
    return items


def _block(data: bytes, offset: int, size: int) -> bytes:
    if data[offset + size] != 0:  # the trailer's first byte: 0 = no compression
        raise CheckpointError("compressed tensor bundle blocks are not supported")
    return data[offset:offset + size]


def _block_items(block: bytes) -> list[tuple[bytes, bytes]]:
    restarts = struct.unpack("<I", block[-4:])[0]
    end = len(block) - 4 - 4 * restarts
    pos, key, items = 0, b"", []
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        items.append((key, block[pos:pos + value_len]))
        pos += value_len
    return items


def _parse_entry(data: bytes) -> dict:
    """The fields of a BundleEntryProto we need: dtype, shape, shard_id, offset, size."""
    entry: dict = {}
    for field, value in _proto_fields(data):
        if field == 1:
            entry["dtype"] = value
        elif field == 2:
            entry["shape"] = tuple(_dim_size(dim) for f, dim in _proto_fields(value) if f == 2)
        elif field in (3, 4, 5):
            entry[{3: "shard_id", 4: "offset", 5: "size"}[field]] = value
        elif field == 7:
            raise CheckpointError("sliced (partitioned) variables are not supported")
    return entry


def _dim_size(data: bytes) -> int:
    return next((value for field, value in _proto_fields(data) if field == 1), 0)


def _proto_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of a protobuf message: varints as ints, length-delimited as bytes."""
    pos, fields = 0, []
    while pos < len(data):
        tag, pos = _varint(data, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack("<I", data[pos:pos + 4])[0], pos + 4
        elif wire == 1:
            value, pos = struct.unpack("<Q", data[pos:pos + 8])[0], pos + 8
        else:
            raise CheckpointError(f"unexpected protobuf wire type {wire}")
        fields.append((field, value))
    return fields


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
