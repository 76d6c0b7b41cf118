"""Keep numba's on-disk cache consistent across the modules of the compiled strategy.

numba keys a cached function on its own source file only: when ``strategy/core.py`` changes but
``backtest/engine.py`` does not, the cached backtest loop would keep running the *old* step
(numba inlines callees into the cached machine code). That would break the "one implementation"
promise silently, so before anything is compiled or loaded we hash the sources of every module
that holds compiled strategy code; when the hash differs from the one stored beside the cache,
their cache files are deleted and numba recompiles once.

Applies to caches in the packages' ``__pycache__`` folders (numba's default when writable).

Many processes import the strategy at once (a walk-forward's worker pool): the check, the deletion and
the new stamp happen under one exclusive file lock, so exactly one process deletes stale files and the
others find the fresh stamp; none deletes a cache file another has just written after recompiling.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent  # src/tradingmodel
JIT_MODULES = ("strategy/core.py", "strategy/risk.py", "strategy/layout.py", "execution/fills.py", "backtest/engine.py")
_STAMP = _PKG / "strategy" / "__pycache__" / "jit_sources.sha1"


def sources_hash(pkg: Path = _PKG) -> str:
    """SHA-1 over the sources of all modules with compiled strategy code."""
    h = hashlib.sha1()
    for rel in JIT_MODULES:
        p = pkg / rel
        h.update(rel.encode())
        h.update(p.read_bytes() if p.is_file() else b"")
    return h.hexdigest()


@contextlib.contextmanager
def _locked(stamp: Path) -> Iterator[bool]:
    """Hold an exclusive lock beside the stamp (yields False when the folder is not writable)."""
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(stamp.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def invalidate_stale_caches(pkg: Path = _PKG) -> bool:
    """Delete the numba cache files of :data:`JIT_MODULES` if any of them changed; True if deleted.

    ``pkg`` is the package folder (tests point it at a copy)."""
    digest = sources_hash(pkg)
    stamp = pkg / _STAMP.relative_to(_PKG)
    with _locked(stamp) as ok:
        try:
            if not ok or (stamp.is_file() and stamp.read_text().strip() == digest):
                return False
        except OSError:
            return False
        removed = False
        for rel in JIT_MODULES:
            p = pkg / rel
            cache_dir = p.parent / "__pycache__"
            if not cache_dir.is_dir():
                continue
            for f in list(cache_dir.glob(f"{p.stem}.*.nbi")) + list(cache_dir.glob(f"{p.stem}.*.nbc")):
                try:
                    f.unlink()
                    removed = True
                except OSError:
                    pass
        try:
            tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
            tmp.write_text(digest)
            tmp.replace(stamp)
        except OSError:
            pass
        return removed
