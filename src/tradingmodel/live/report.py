"""A session's results as the backtest's frames and metrics (from the store, so a restarted session reports
its whole life): equity from the ``portfolio`` events, round trips paired from the fills."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradingmodel.config import AppConfig, TradingConfig
from tradingmodel.data.columns import TRADE_COLUMNS  # one definition of the trades table
from tradingmodel.store.sessions import SessionStore

EXIT_NAMES = {
    "stop_loss": "stop",
    "take_profit": "target",
    "time_exit": "time",
    "halt_exit": "halt",
    "session_close": "session_close",
    "end": "end",
}


def session_equity(store: SessionStore) -> pd.DataFrame:
    """``timestamp, equity, cash, gross_exposure`` per slice (the last event of a slice wins)."""
    ev = store.events(types=["portfolio"])
    if not ev:
        return pd.DataFrame(columns=["timestamp", "equity", "cash", "gross_exposure"])
    df = pd.DataFrame(
        {
            "timestamp": pd.to_datetime([e["bar_time"] for e in ev], utc=True),
            "equity": [e["data"]["equity"] for e in ev],
            "cash": [e["data"]["cash"] for e in ev],
            "gross_exposure": [e["data"]["gross_exposure"] for e in ev],
        }
    )
    return df.drop_duplicates("timestamp", keep="last").reset_index(drop=True)


def session_fills(store: SessionStore) -> pd.DataFrame:
    """The session's fills in order, with their order's purpose."""
    rows = store.fills()
    cols = ["timestamp", "symbol", "side", "quantity", "price", "commission", "purpose", "fill_id", "client_order_id"]
    if not rows:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime([r["timestamp"] for r in rows], utc=True),
            "symbol": [r["symbol"] for r in rows],
            "side": [r["side"] for r in rows],
            "quantity": [r["quantity"] for r in rows],
            "price": [r["price"] for r in rows],
            "commission": [r["commission"] for r in rows],
            "purpose": [r["reason"] for r in rows],
            "fill_id": [r["broker_fill_id"] for r in rows],
            "client_order_id": [r["client_order_id"] for r in rows],
        }
    )


def session_trades(fills: pd.DataFrame) -> pd.DataFrame:
    """Round trips: each entry fill with the next fill of its symbol (the strategy holds one position)."""
    out, open_ = [], {}
    for f in fills.itertuples(index=False):
        if f.purpose == "entry":
            open_[f.symbol] = f
            continue
        e = open_.pop(f.symbol, None)
        if e is None:
            continue
        side = 1 if e.side == "buy" else -1
        comm = e.commission + f.commission
        pnl = side * (f.price - e.price) * e.quantity - comm
        out.append(
            [
                f.symbol,
                "long" if side > 0 else "short",
                e.timestamp,
                e.price,
                f.timestamp,
                f.price,
                e.quantity,
                pnl,
                100.0 * pnl / (e.price * e.quantity),
                comm,
                EXIT_NAMES.get(f.purpose, f.purpose),
            ]
        )
    return pd.DataFrame(out, columns=TRADE_COLUMNS)


def session_metrics(store: SessionStore, trading: TradingConfig) -> dict[str, Any]:
    """The backtest's trading metrics (in % and $ on the deposit) over the session so far."""
    from tradingmodel.backtest import infer_bars_per_year
    from tradingmodel.metrics.trading import trading_metrics

    equity = session_equity(store)
    if len(equity) == 0:
        return {"deposit": trading.deposit, "total_trades": 0, "slices": 0}
    fills = session_fills(store)
    m = trading_metrics(equity, session_trades(fills), trading.deposit, infer_bars_per_year(equity["timestamp"]))
    m["slices"] = len(equity)
    m["fills"] = len(fills)
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in m.items()}


def save_session_report(
    store: SessionStore, config: AppConfig, root: str | Path, *, source: str, bars: pd.DataFrame | None = None
) -> Path:
    """A run folder + report like a backtest's (``reports/<run-id>/``) for the session."""
    from tradingmodel.report import provenance, write_run_folder

    fills = session_fills(store)
    return write_run_folder(
        "paper",
        root=root,
        config=config,
        provenance=provenance(bars, source=source) if bars is not None else {"source": source},
        trading_metrics=session_metrics(store, config.trading),
        trades=session_trades(fills),
        equity=session_equity(store),
        bars=bars,
        extra={"session_run_id": store.run_id},
    )
