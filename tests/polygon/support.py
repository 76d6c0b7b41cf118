"""Test helpers for the Polygon tests: the API key the fake accepts and simulator bars."""

from __future__ import annotations

import numpy as np
import pandas as pd

API_KEY = "test-key-123"


def make_bars(symbols: list[str], days: int, *, start: str = "2024-01-02", seed: int = 7) -> pd.DataFrame:
    """Simulated one-minute bars: the project's simulator when it is there, else a small random walk."""
    try:
        from tradingmodel.data import simulate  # type: ignore[attr-defined]
    except ImportError:
        simulate = None
    if simulate is not None:
        return simulate(symbols, days, seed=seed, start=start)
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=days)
    local = [d + pd.Timedelta(hours=9, minutes=30) + pd.Timedelta(minutes=m) for d in dates for m in range(390)]
    ts = pd.DatetimeIndex(local).tz_localize("America/New_York").tz_convert("UTC")
    frames = []
    for i, s in enumerate(symbols):
        close = 100 * (1 + i) * np.exp(np.cumsum(rng.normal(0, 1e-3, len(ts))))
        open_ = np.r_[close[0], close[:-1]]
        spread = np.abs(rng.normal(0, 5e-4, len(ts))) * close
        frames.append(
            pd.DataFrame(
                {
                    "symbol": s,
                    "timestamp": ts,
                    "open": open_,
                    "high": np.maximum(open_, close) + spread,
                    "low": np.minimum(open_, close) - spread,
                    "close": close,
                    "volume": rng.integers(100, 10_000, len(ts)).astype("float64"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values(["symbol", "timestamp"], ignore_index=True)
