"""Features: close, volume, SMA(20), EMA(20), RSI(14) (model inputs) plus volume_sma20 and ret_std20.

Batch (:func:`feature_arrays`, :func:`compute_features`, TA-Lib) and incremental
(:class:`StreamingFeatures`) give the same numbers; see ``docs/features.md``.
"""

from tradingmodel.features.batch import (
    ALL_NAMES,
    EXTRA_NAMES,
    FEATURE_NAMES,
    WARMUP_BARS,
    compute_features,
    feature_arrays,
)
from tradingmodel.features.streaming import LIVE_BUFFER_BARS, StreamingFeatures

__all__ = [
    "ALL_NAMES",
    "EXTRA_NAMES",
    "FEATURE_NAMES",
    "LIVE_BUFFER_BARS",
    "WARMUP_BARS",
    "StreamingFeatures",
    "compute_features",
    "feature_arrays",
]
