"""Keep numba's on-disk cache consistent across the modules of the compiled strategy.

numba keys a cached function on its own source file only: when ``strategy/core.py`` changes but
``backtest/engine.py`` does not, the cached backtest loop would keep running the *old* step
(numba inlines callees into the cached machine code). That would break the "one implementation"
promise silently, so before anything is compiled or loaded we hash the sources of every module
that holds compiled strategy code; when the hash differs from the one stored beside the cache,
their cache files are deleted and numba recompiles once.

Applies to caches in the packages' ``__pycache__`` folders (numba's default when writable).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent  # src/tradingmodel
JIT_MODULES = ("strategy/core.py", "strategy/risk.py", "strategy/layout.py", "execution/fills.py",
               "backtest/engine.py")
_STAMP = _PKG / "strategy" / "__pycache__" / "jit_sources.sha1"


def sources_hash() -> str:
    """SHA-1 over the sources of all modules with compiled strategy code."""
    h = hashlib.sha1()
    for rel in JIT_MODULES:
        p = _PKG / rel
        h.update(rel.encode())
        h.update(p.read_bytes() if p.is_file() else b"")
    return h.hexdigest()


def invalidate_stale_caches() -> bool:
    """Delete the numba cache files of :data:`JIT_MODULES` if any of them changed; True if deleted."""
    digest = sources_hash()
    try:
        if _STAMP.is_file() and _STAMP.read_text().strip() == digest:
            return False
    except OSError:
        return False
    removed = False
    for rel in JIT_MODULES:
        p = _PKG / rel
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
        _STAMP.parent.mkdir(parents=True, exist_ok=True)
        tmp = _STAMP.with_suffix(".tmp")
        tmp.write_text(digest)
        tmp.replace(_STAMP)
    except OSError:
        pass
    return removed
