"""Compact binary encoding of a user's stored state (the ``user_state.state_blob`` column).

A state is a JSON-able dict whose large parts are float vectors (an interest state: long-
and short-term sums, cluster totals). Encoded as JSON, one ML-1M user's state is about
50 KB of decimal digits, parsed and printed again on every event. Here the dict's
structure stays JSON, and every numpy array in it (found in dict values, and in dicts
inside lists) is stored as its raw little-endian bytes after it::

    b"DRS1" | uint32 skeleton length | skeleton (JSON, arrays as {"$nd": [offset, count, dtype]})
            | array bytes (each at an 8-byte aligned offset)

Decoding gives the same dict with writable numpy arrays where arrays were (same dtype,
bit for bit). Lists of numbers are stored as JSON, as they were given. Rows written before
this format (the ``state`` JSON column) are read as they are; see :mod:`.migrations`.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import orjson

MAGIC = b"DRS1"
_HEADER = struct.Struct("<4sI")
_ARRAY = "$nd"
_DTYPES = {"<f8", "<f4", "<f2", "<i8", "<i4"}


class StateCodecError(ValueError):
    """Bytes that are not a state written by :func:`encode_state`."""


def encode_state(state: dict[str, Any]) -> bytes:
    """The state as bytes (see the module docstring)."""
    chunks: list[bytes] = []
    size = 0

    def put(value: np.ndarray) -> dict[str, list]:
        nonlocal size
        arr = np.ascontiguousarray(value).ravel()
        dtype = arr.dtype.newbyteorder("<").str
        if dtype not in _DTYPES:
            arr, dtype = arr.astype("<f8"), "<f8"
        elif arr.dtype.str != dtype:
            arr = arr.astype(dtype)
        pad = -size % 8
        if pad:
            chunks.append(b"\0" * pad)
            size += pad
        ref = {_ARRAY: [size, int(arr.size), dtype]}
        data = arr.tobytes()
        chunks.append(data)
        size += len(data)
        return ref

    def walk(obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return put(obj)
        if isinstance(obj, dict):
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list) and obj and isinstance(obj[0], dict):
            return [walk(v) for v in obj]
        return obj

    skeleton = orjson.dumps(walk(state), option=orjson.OPT_SERIALIZE_NUMPY)
    return b"".join([_HEADER.pack(MAGIC, len(skeleton)), skeleton, *chunks])


def decode_state(blob: bytes | memoryview) -> dict[str, Any]:
    """The dict :func:`encode_state` was given, arrays as writable numpy arrays."""
    blob = bytes(blob)
    if len(blob) < _HEADER.size:
        raise StateCodecError("stored state is truncated")
    magic, n = _HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise StateCodecError(f"stored state has an unknown format {magic!r}")
    start = _HEADER.size + n
    skeleton = orjson.loads(blob[_HEADER.size:start])
    data = memoryview(blob)[start:]

    def walk(obj: Any) -> Any:
        if isinstance(obj, dict):
            ref = obj.get(_ARRAY)
            if ref is not None and len(obj) == 1:
                offset, count, dtype = ref
                if dtype not in _DTYPES:
                    raise StateCodecError(f"stored state has an array of type {dtype!r}")
                return np.frombuffer(data, dtype=dtype, count=count, offset=offset).copy()
            return {k: walk(v) for k, v in obj.items()}
        if isinstance(obj, list) and obj and isinstance(obj[0], dict):
            return [walk(v) for v in obj]
        return obj

    return walk(skeleton)


def plain(obj: Any) -> Any:
    """A decoded state made JSON-ready (arrays as lists), e.g. for an export."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj
