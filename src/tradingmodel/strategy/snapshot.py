"""Snapshots: a set of state arrays plus a format version, to and from bytes (NumPy ``.npz``, no pickle).

Used by :class:`tradingmodel.strategy.StrategyState` and by the simulated executor, so that a live
session can store its whole state after every slice and continue exactly where it was. Reading
refuses another kind, another format version, a missing array or one of the wrong shape or dtype,
with a :class:`SnapshotError` that names it.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence

import numpy as np

FORMAT_VERSION = 1
#: a shape entry: a number, ``"n"`` (the number of symbols) or ``None`` (any length)
Shape = tuple[int | str | None, ...]


class SnapshotError(ValueError):
    """A snapshot that cannot be restored here; the message says what is wrong."""


def pack(kind: str, symbols: Sequence[str], arrays: Mapping[str, np.ndarray]) -> bytes:
    """``arrays`` (and the symbols) as bytes, tagged with ``kind`` and :data:`FORMAT_VERSION`."""
    buf = io.BytesIO()
    np.savez(
        buf,
        kind__=np.array(kind),
        version__=np.array(FORMAT_VERSION, dtype=np.int64),
        symbols__=np.array(list(symbols), dtype=np.str_),
        **arrays,
    )
    return buf.getvalue()


def unpack(
    data: bytes, kind: str, spec: Mapping[str, tuple[Shape, type]], optional: Sequence[str] = ()
) -> tuple[list[str], dict[str, np.ndarray]]:
    """The symbols and the arrays named in ``spec`` (``name -> (shape, dtype)``) from a :func:`pack` blob.

    Arrays in ``optional`` may be absent. Raises :class:`SnapshotError` for anything else unexpected.
    """
    what = f"{kind} snapshot"
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SnapshotError(f"{what}: expected bytes, got {type(data).__name__}")
    try:
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as z:
            stored = {name: z[name] for name in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise SnapshotError(f"{what}: not a snapshot ({e})") from None
    got_kind = str(stored.get("kind__", "")) or "unknown"
    if got_kind != kind:
        raise SnapshotError(f"{what}: this is a {got_kind} snapshot")
    version = int(stored["version__"]) if "version__" in stored else -1
    if version != FORMAT_VERSION:
        raise SnapshotError(f"{what}: format version {version}, this build reads version {FORMAT_VERSION}")
    symbols = [str(s) for s in stored.get("symbols__", np.array([], dtype=np.str_))]
    out: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in spec.items():
        if name not in stored:
            if name in optional:
                continue
            raise SnapshotError(f"{what}: array {name!r} is missing")
        a = stored[name]
        want = tuple(len(symbols) if d == "n" else d for d in shape)
        if a.ndim != len(want) or any(w is not None and w != g for w, g in zip(want, a.shape, strict=True)):
            shown = tuple("any" if w is None else w for w in want)
            raise SnapshotError(
                f"{what}: array {name!r} has shape {a.shape}, expected {shown} for {len(symbols)} symbols"
            )
        if a.dtype != np.dtype(dtype):
            raise SnapshotError(f"{what}: array {name!r} has dtype {a.dtype}, expected {np.dtype(dtype)}")
        out[name] = np.ascontiguousarray(a)
    return symbols, out
