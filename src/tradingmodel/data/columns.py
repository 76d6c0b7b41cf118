"""The column lists of the project's tables, defined once: bars, predictions, trades.

Every module that builds, checks or stores one of these frames imports its columns from here (bar files,
the store, Polygon's wire format, run folders, the backtest, live session reports), so the names and their
order cannot drift apart. See ``docs/data.md`` for what each column means.
"""

from __future__ import annotations

#: A bars frame (the "bars convention"): one row per symbol and bar start, sorted by (symbol, timestamp).
BAR_COLUMNS: tuple[str, ...] = ("symbol", "timestamp", "open", "high", "low", "close", "volume")
#: Bar columns a source may add (Polygon does); NaN when unknown.
OPTIONAL_BAR_COLUMNS: tuple[str, ...] = ("vwap", "transactions")
#: What the store keeps of a bar, and what it and Polygon's client return.
STORED_BAR_COLUMNS: tuple[str, ...] = (*BAR_COLUMNS, *OPTIONAL_BAR_COLUMNS)
#: The four prices of a bar.
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")

#: A predictions frame (``predict`` writes it, ``backtest --predictions`` reads it): the close predicted
#: for the next bar, made after the bar at ``timestamp``.
PREDICTION_COLUMNS: tuple[str, ...] = ("symbol", "timestamp", "predicted_close", "confidence")
#: Scored predictions as a run folder keeps them: with the actual closes and the split each bar fell in.
SCORED_PREDICTION_COLUMNS: tuple[str, ...] = (*PREDICTION_COLUMNS, "close", "next_close", "split")

#: One round trip of the backtest, of a paper/live session report and of a run folder's ``trades.csv``.
TRADE_COLUMNS: tuple[str, ...] = (
    "symbol",
    "side",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "quantity",
    "pnl",
    "return_pct",
    "commission",
    "exit_reason",
)
