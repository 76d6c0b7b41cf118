"""``paper --source replay --speed 0`` over a file = ``backtest`` on the same bars and predictions: the same
orders, fills and equity, two symbols, with missing bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.live.conftest import run_cli
from tests.live.helpers import BT_PURPOSE, FILL_COLUMNS, backtest_of, book, paper_args, session_store


def test_replay_matches_the_backtest_fill_for_fill(
    model_dir: Path, bars_file: Path, config_file: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/paper.db"
    r = run_cli(*paper_args(bars_file, model_dir, config_file, url, "parity", tmp_path / "broker"))
    assert r.returncode == 0, r.stderr[-3000:]
    bt = backtest_of(bars_file, model_dir, config_file)
    store = session_store(url, "parity")
    got = book(store)
    want = bt.fills.assign(side=bt.fills["side"].astype(str))[FILL_COLUMNS].reset_index(drop=True)
    assert len(want) >= 10  # the config trades
    pd.testing.assert_frame_equal(got["fills"][FILL_COLUMNS], want, check_exact=True, check_dtype=False)
    # equity after every slice, and at the end
    eq = got["equity"]
    assert len(eq) == len(bt.equity)
    np.testing.assert_array_equal(eq["equity"].to_numpy(), bt.equity["equity"].to_numpy())
    # the decisions (entries and the strategy's exits) are the backtest's orders, same bar, side and size
    orders = pd.DataFrame(store.orders())
    decided = orders[orders["reason"].isin(list(BT_PURPOSE))]
    mine = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(decided["bar_time"], utc=True).to_numpy(),
            "symbol": decided["symbol"].to_numpy(),
            "side": decided["side"].to_numpy(),
            "quantity": decided["quantity"].to_numpy(),
            "purpose": decided["reason"].map(BT_PURPOSE).to_numpy(),
        }
    )
    bo = bt.orders[bt.orders["type"].isin(["market_next_open", "market_on_close"])]
    theirs = bo[["timestamp", "symbol", "side", "quantity", "purpose"]].astype({"side": str})
    key = ["timestamp", "symbol", "purpose"]
    pd.testing.assert_frame_equal(
        mine.sort_values(key).reset_index(drop=True), theirs.sort_values(key).reset_index(drop=True), check_dtype=False
    )
    # every stop/target exit of the backtest is a filled protective leg here
    legs = orders[orders["reason"].isin(["stop_loss", "take_profit"]) & (orders["status"] == "filled")]
    assert len(legs) == int(bt.orders["type"].isin(["stop", "limit"]).sum())
    assert set(orders["status"]) <= {"filled", "canceled", "rejected"}
    assert "slices" in r.stdout or "session parity" in r.stdout
