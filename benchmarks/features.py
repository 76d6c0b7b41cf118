"""Feature throughput: TA-Lib batch and StreamingFeatures beside plain pandas rolling/ewm, same run.

Usage: ``.venv/bin/python benchmarks/features.py [--bars 1000000] [--stream-bars 200000]``.
Prints one line per figure: ``<figure>: <value> <unit> = <ratio>x <reference>``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from tradingmodel.data import BARS_PER_SESSION, simulate
from tradingmodel.features import LIVE_BUFFER_BARS, StreamingFeatures, compute_features

SYMBOLS = 10


def pandas_features(bars: pd.DataFrame) -> pd.DataFrame:
    """The same seven columns written the plain pandas way (groupby + rolling/ewm)."""
    g = bars.groupby("symbol", sort=False)
    out = bars.copy()
    out["sma20"] = g["close"].transform(lambda s: s.rolling(20).mean())
    out["ema20"] = g["close"].transform(lambda s: s.ewm(span=20, adjust=False, min_periods=20).mean())
    diff = g["close"].diff()
    gain = diff.clip(lower=0).groupby(bars["symbol"], sort=False)
    loss = (-diff).clip(lower=0).groupby(bars["symbol"], sort=False)
    avg_gain = gain.transform(lambda s: s.ewm(alpha=1 / 14, adjust=False, min_periods=14).mean())
    avg_loss = loss.transform(lambda s: s.ewm(alpha=1 / 14, adjust=False, min_periods=14).mean())
    out["rsi14"] = 100 * avg_gain / (avg_gain + avg_loss)
    out["volume_sma20"] = g["volume"].transform(lambda s: s.rolling(20).mean())
    ret = g["close"].pct_change()
    out["ret_std20"] = ret.groupby(bars["symbol"], sort=False).transform(lambda s: s.rolling(20).std(ddof=0))
    return out


def pandas_live_update(buffer: pd.DataFrame) -> np.ndarray:
    """Plain pandas live step: recompute rolling/ewm over the buffer, keep the last row."""
    c, v = buffer["close"], buffer["volume"]
    d = c.diff()
    ag = d.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean().iloc[-1]
    al = (-d).clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean().iloc[-1]
    return np.array(
        [
            c.iloc[-1],
            v.iloc[-1],
            c.rolling(20).mean().iloc[-1],
            c.ewm(span=20, adjust=False).mean().iloc[-1],
            100 * ag / (ag + al),
            v.rolling(20).mean().iloc[-1],
            c.pct_change().rolling(20).std(ddof=0).iloc[-1],
        ]
    )


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1_000_000, help="bars for the batch figure (10 symbols)")
    ap.add_argument("--stream-bars", type=int, default=200_000, help="bars fed to StreamingFeatures")
    ap.add_argument("--pandas-live-bars", type=int, default=2_000, help="bars for the pandas live reference")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    days = max(1, -(-a.bars // (SYMBOLS * BARS_PER_SESSION)))
    bars = simulate([f"S{i:02d}" for i in range(SYMBOLS)], days, seed=1)
    n = len(bars)
    ours = compute_features(bars)
    ref = pandas_features(bars)
    for col in ("sma20", "volume_sma20", "ret_std20"):  # same definitions -> same numbers
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-7, atol=1e-12, equal_nan=True)
    t_ours = best_of(a.repeat, lambda: compute_features(bars))
    t_ref = best_of(a.repeat, lambda: pandas_features(bars))
    print(
        f"batch features, {n:,} bars x {SYMBOLS} symbols: {n / t_ours:,.0f} bars/s = "
        f"{t_ref / t_ours:.1f}x pandas groupby rolling/ewm ({n / t_ref:,.0f} bars/s)"
    )

    one = bars[bars["symbol"] == "S00"]
    c = np.resize(one["close"].to_numpy(), a.stream_bars)
    v = np.resize(one["volume"].to_numpy(), a.stream_bars)
    c_list, v_list = c.tolist(), v.tolist()

    def stream() -> None:
        s = StreamingFeatures()
        for x, y in zip(c_list, v_list, strict=True):
            s.update(x, y)

    t_stream = best_of(a.repeat, stream)
    m = a.pandas_live_bars
    frame = pd.DataFrame({"close": c[: LIVE_BUFFER_BARS + m], "volume": v[: LIVE_BUFFER_BARS + m]})

    def pandas_live() -> None:
        for t in range(LIVE_BUFFER_BARS, LIVE_BUFFER_BARS + m):
            pandas_live_update(frame.iloc[t - LIVE_BUFFER_BARS + 1 : t + 1])

    t_pl = best_of(1, pandas_live)
    rate, ref_rate = a.stream_bars / t_stream, m / t_pl
    print(
        f"incremental update (StreamingFeatures), {a.stream_bars:,} bars: {rate:,.0f} bars/s = "
        f"{rate / ref_rate:.0f}x pandas rolling/ewm recomputed on a {LIVE_BUFFER_BARS}-bar buffer per bar "
        f"({ref_rate:,.0f} bars/s)"
    )


if __name__ == "__main__":
    main()
