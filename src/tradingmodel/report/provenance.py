"""Data provenance for a run folder: which bars, which code, which versions.

``provenance(bars, source="simulator", seed=7)`` gives the dict to pass to ``write_run_folder``; everything in it
is JSON-ready. The bars hash does not depend on the timestamp resolution (us or ns) or row order.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from tradingmodel.data.bars import symbol_digest

_PACKAGES = ("tradingmodel", "torch", "numpy", "pandas", "plotly")


def bars_hash(bars: pd.DataFrame) -> str:
    """SHA-256 over every symbol's name and :func:`~tradingmodel.data.bars.symbol_digest`, symbols in order
    and each symbol's bars by time, so row order and the timestamp unit do not change it."""
    b = bars.assign(_ts=pd.to_datetime(bars["timestamp"], utc=True)).sort_values(["symbol", "_ts"], kind="stable")
    h = hashlib.sha256()
    for sym, g in b.groupby("symbol", sort=True):
        h.update(str(sym).encode() + b"\0" + symbol_digest(g).encode())
    return h.hexdigest()


def git_commit(where: Path | None = None) -> str | None:
    """``HEAD`` of the repository holding this package (``+dirty`` with local changes), or None."""
    cwd = where or Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def versions() -> dict[str, str]:
    """Python and the main packages' versions."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def provenance(bars: pd.DataFrame | None = None, *, source: str, **extra: Any) -> dict[str, Any]:
    """``source`` (e.g. ``"simulator"``, a file path, ``"polygon"``), the bars' symbols, first and last
    bar start (UTC ISO), bar count and hash, the git commit and versions, plus ``extra`` (seed, ...)."""
    out: dict[str, Any] = {"source": source}
    if bars is not None and len(bars):
        ts = pd.to_datetime(bars["timestamp"], utc=True)
        out.update(
            {
                "symbols": sorted(str(s) for s in bars["symbol"].unique()),
                "start": ts.min().isoformat(),
                "end": ts.max().isoformat(),
                "bars": int(len(bars)),
                "bars_sha256": bars_hash(bars),
            }
        )
    out.update(extra)
    out["git_commit"] = git_commit()
    out["versions"] = versions()
    return out
