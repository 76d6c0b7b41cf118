"""Risk halts act live as in the backtest and are recorded; an unreconcilable order stops the engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

from tests.live.conftest import SYMBOLS, trading_bars
from tests.live.helpers import FILL_COLUMNS, session_store
from tradingmodel.backtest import run_backtest
from tradingmodel.config import load_config
from tradingmodel.live.orders import EngineError
from tradingmodel.live.report import session_fills
from tradingmodel.live.session import run_session
from tradingmodel.live.sources import ReplaySource
from tradingmodel.model import predict
from tradingmodel.store import get_engine
from tradingmodel.store.schema import Order


def _run(bars: pd.DataFrame, cfg, url: str, name: str, broker: Path, model_dir: Path):
    return asyncio.run(
        run_session(
            name=name,
            symbols=SYMBOLS,
            model_dir=model_dir,
            source=ReplaySource(bars),
            config=cfg,
            database_url=url,
            broker_dir=broker,
            flatten_on_exit=True,
            handle_signals=False,
        )
    )


@pytest.mark.parametrize(
    "limits,status",
    [
        ({"daily_loss_limit": 0.0005, "commission_per_share": 0.1}, "halted_for_the_day"),
        ({"max_drawdown_limit": 0.0003}, "halted"),
    ],
)
def test_risk_halts_are_the_backtests_and_recorded(model_dir: Path, tmp_path: Path, limits: dict, status: str) -> None:
    bars = trading_bars()
    cfg = load_config(None, {"trading": {"buy_threshold": 0.02, "sell_threshold": 0.02, **limits}})
    url = f"sqlite:///{tmp_path}/h.db"
    _run(bars, cfg, url, "halt", tmp_path / "b", model_dir)
    store = session_store(url, "halt")
    risk = [e["data"]["status"] for e in store.events(types=["risk"])]
    assert risk[0] == "trading" and status in risk
    bt = run_backtest(bars, predict(model_dir, bars), cfg.trading)
    assert bt.rejections["reason"].eq("halted").any()  # the backtest halts on these bars too
    pd.testing.assert_frame_equal(
        session_fills(store)[FILL_COLUMNS].reset_index(drop=True),
        bt.fills.assign(side=bt.fills["side"].astype(str))[FILL_COLUMNS].reset_index(drop=True),
        check_dtype=False,
    )
    signals = [e["data"] for e in store.events(types=["signal"])]
    assert any(s["rejection"] == "halted" for s in signals) or status == "halted_for_the_day"


def test_an_order_the_executor_never_saw_stops_the_engine_naming_it(model_dir: Path, tmp_path: Path) -> None:
    bars = trading_bars(minutes=60)
    cfg = load_config(None, {"trading": {"buy_threshold": 0.02, "sell_threshold": 0.02}})
    url = f"sqlite:///{tmp_path}/r.db"
    _run(bars.iloc[: len(bars) // 2], cfg, url, "rec", tmp_path / "b", model_dir)
    store = session_store(url, "rec")
    with get_engine(url).begin() as conn:  # a submitted order the paper executor has no record of
        conn.execute(
            Order.__table__.insert().values(
                run_id=store.run_id,
                client_order_id="tm-entry-ghost",
                symbol="AAA",
                side="buy",
                quantity=5,
                order_type="market",
                status="submitted",
                reason="entry",
                bar_time=bars["timestamp"].iloc[0],
            )
        )
    with pytest.raises(EngineError, match="order tm-entry-ghost .*unknown to the paper executor"):
        _run(bars, cfg, url, "rec", tmp_path / "b", model_dir)
