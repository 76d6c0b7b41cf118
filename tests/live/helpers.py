"""Reading a session back for the comparisons of the live tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tradingmodel.backtest import run_backtest
from tradingmodel.config import load_config
from tradingmodel.live.report import session_equity, session_fills
from tradingmodel.model import predict
from tradingmodel.store import get_engine
from tradingmodel.store.sessions import SessionStore

FILL_COLUMNS = ["timestamp", "symbol", "side", "quantity", "price", "commission"]
BT_PURPOSE = {
    "entry": "entry",
    "time_exit": "time",
    "halt_exit": "halt",
    "session_close": "session_close",
    "end": "end",
}


def session_store(url: str, name: str) -> SessionStore:
    from sqlalchemy import select

    from tradingmodel.store.schema import Run

    engine = get_engine(url)
    with engine.connect() as conn:
        run_id = conn.execute(select(Run.id).where(Run.name == name)).scalar_one()
    return SessionStore(engine, int(run_id))


def book(store: SessionStore) -> dict:
    """Fills, positions, final equity and the equity curve of a session (what must survive any crash)."""
    fills = session_fills(store)[FILL_COLUMNS + ["fill_id"]].reset_index(drop=True)
    positions = {s: (p["quantity"], round(p["realized_pnl"], 9)) for s, p in store.positions().items()}
    eq = session_equity(store)
    return {"fills": fills, "positions": positions, "equity": eq}


def backtest_of(bars_file: Path, model_dir: Path, config_file: Path):
    bars = pd.read_csv(bars_file)
    cfg = load_config(config_file)
    return run_backtest(bars, predict(model_dir, bars), cfg.trading)


def paper_args(bars_file: Path, model_dir: Path, config_file: Path, url: str, name: str, broker: Path) -> list[str]:
    return [
        "paper",
        "--source",
        "replay",
        "--speed",
        "0",
        "--data",
        str(bars_file),
        "--model",
        str(model_dir),
        "--config",
        str(config_file),
        "--db",
        url,
        "--session",
        name,
        "--flatten-on-exit",
        "--no-panel",
        "--no-report",
        "--broker-dir",
        str(broker),
    ]
