"""The real engine against the loopback Alpaca fake with ``APCA_ALLOW_FRACTIONAL=1``: Alpaca holds no stop/target
legs for fractional orders, so the engine emulates them (decided at a bar's close, a market exit at the next open)
and says so at start. Fractional long quantities reach the broker, no leg is placed, every decided order (emulated
exits included) is placed once, the book equals the broker's, across SIGKILLs and restarts; a restart on the
other mode with positions open stops clearly. Plus the 422 twin of the engine's refused-entry test."""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.alpaca.test_engine import (
    DECIDED,
    _args,
    _check_exactly_once,
    _env,
    _on_slices,
    _strategy,
)
from tests.live.conftest import CONFIG, run_forked, trading_bars
from tests.live.helpers import session_store
from tradingmodel.cli import app
from tradingmodel.execution.alpaca.fake import FakeAlpaca
from tradingmodel.live.session import EMULATION_NOTE
from tradingmodel.store.sessions import SessionStore
from tradingmodel.strategy import layout as L

FRACTIONAL = {"APCA_ALLOW_FRACTIONAL": "1"}
EMULATED = ("stop_loss", "take_profit")
#: tighter levels than the defaults, so that a morning of minute bars hits both
LEVELS = CONFIG + "stop_loss_threshold = 0.002\ntake_profit_threshold = 0.003\n"


def _levels_files(paths: tuple[Path, Path], text: str = LEVELS) -> tuple[Path, Path]:
    """The engine tests' files with ``text`` as the trading config."""
    paths[1].write_text(text)
    return paths


def _check_emulated_exits(store: SessionStore, sl: float = 0.002, tp: float = 0.003) -> list[dict]:
    """Every emulated exit was decided on a bar that reached its level (stop before target) from the position's
    entry fill price, and filled; returns them."""
    bars = trading_bars().set_index(["symbol", "timestamp"])
    fills = store.fills()
    exits = [o for o in store.orders() if o["reason"] in EMULATED]
    for o in exits:
        assert o["status"] == "filled" and not o["client_order_id"].endswith(("-sl", "-tp")), o
        t = pd.Timestamp(o["bar_time"])
        t = t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC")
        k = next(i for i, f in enumerate(fills) if f["client_order_id"] == o["client_order_id"])
        entry = [f for f in fills[:k] if f["reason"] == "entry" and f["symbol"] == o["symbol"]][-1]
        side = 1 if entry["side"] == "buy" else -1
        assert o["side"] == ("sell" if side > 0 else "buy")
        bar = bars.loc[(o["symbol"], t)]
        stop, target = entry["price"] * (1 - side * sl), entry["price"] * (1 + side * tp)
        hit_stop = bar["low"] <= stop if side > 0 else bar["high"] >= stop
        hit_target = bar["high"] >= target if side > 0 else bar["low"] <= target
        assert (o["reason"] == "stop_loss") == hit_stop and (hit_stop or hit_target), (o, bar, stop, target)
    return exits


def test_a_fractional_session_emulates_its_stops_and_targets(
    fake: FakeAlpaca, files: tuple[Path, Path], model_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/f.db"
    args = _args(_levels_files(files), model_dir, url, "frac")
    assert run_forked(*args, env=_env(fake, **FRACTIONAL)) == 0
    assert EMULATION_NOTE in capfd.readouterr().err, "the start says the stops and targets are emulated"
    store = _check_exactly_once(fake, url, "frac", DECIDED + EMULATED)
    placed = list(fake.book.orders.values())
    assert all(o.order_class == "" and not o.legs and o.parent is None for o in placed), "no leg at the broker"
    assert any(not o.qty.is_integer() for o in placed if o.side == "buy"), "fractional quantities reach Alpaca"
    shorts = [o for o in store.orders() if o["reason"] == "entry" and o["side"] == "sell"]
    assert shorts and all(float(o["quantity"]).is_integer() for o in shorts), "short entries in whole shares"
    exits = _check_emulated_exits(store)
    assert {o["reason"] for o in exits} == set(EMULATED), "both a stop and a target were emulated"
    notes = [e["data"]["message"] for e in store.events(types=["session"]) if e["data"].get("state") == "note"]
    assert EMULATION_NOTE in notes
    strat = _strategy(url, store)
    assert strat.emulates_exits and strat.state.fractional


def test_sigkill_and_restart_keep_emulating_from_the_snapshot(
    fake: FakeAlpaca, files: tuple[Path, Path], model_dir: Path, tmp_path: Path
) -> None:
    """Killed at crash points with positions open; each restart takes the levels from the snapshot and goes on
    emulating; at the end nothing was placed or applied twice and the book is the broker's."""
    url = f"sqlite:///{tmp_path}/k.db"
    args, env = _args(_levels_files(files), model_dir, url, "frackill"), _env(fake, **FRACTIONAL)
    carried: list[tuple[int, str]] = []  # (orders stored by then, symbol) of positions open when a run was killed
    kills = 0
    for spec in ("after_submit:3", "after_decision_commit:25", "slice_before_commit:20", "after_executor_bars:30"):
        rc = run_forked(*args, env={**env, "TRADINGMODEL_CRASH_AT": spec})
        assert rc in (0, -signal.SIGKILL), (spec, rc)
        kills += rc == -signal.SIGKILL
        store = session_store(url, "frackill")
        strat = _strategy(url, store)
        assert strat.emulates_exits
        for i, s in enumerate(strat.symbols):
            if strat.position(i)[0]:
                assert strat.state.sf[i, L.F_STOP] > 0 and strat.state.sf[i, L.F_TARGET] > 0
                carried.append((len(store.orders()), s))
    assert kills == 4 and carried, "killed four times, at least once with a position open"
    assert run_forked(*args, env=env) == 0
    store = _check_exactly_once(fake, url, "frackill", DECIDED + EMULATED)
    _check_emulated_exits(store)  # the levels after each restart are the snapshot's: every exit met its level
    orders = store.orders()
    after_restart = [
        (k, s) for k, s in carried if any(o["symbol"] == s and o["reason"] in EMULATED for o in orders[k:])
    ]
    assert after_restart, "a position carried across a restart was closed by an emulated stop or target"


def test_a_restart_on_the_other_mode_with_positions_open_stops_clearly(
    fake: FakeAlpaca, files: tuple[Path, Path], model_dir: Path, tmp_path: Path
) -> None:
    # levels no bar reaches and no holding limit: the replay ends with its positions open
    wide = CONFIG.replace("max_holding_bars = 12", "max_holding_bars = 100000")
    wide += "stop_loss_threshold = 0.5\ntake_profit_threshold = 0.5\nflatten_at_close = false\n"
    url = f"sqlite:///{tmp_path}/m.db"
    args = _args(_levels_files(files, wide), model_dir, url, "flip")
    assert run_forked(*args, env=_env(fake, **FRACTIONAL)) == 0
    store = session_store(url, "flip")
    assert {s: p["quantity"] for s, p in store.positions().items() if p["quantity"]}, "positions are open"
    orders = fake.order_count()
    r = CliRunner().invoke(app, args, env=_env(fake))  # fractional off: the broker would hold legs now
    assert r.exit_code == 2, r.output
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: session 'flip': the session's book was built with stops and targets emulated")
    assert "the executor now has stops and targets resting at the executor and whole-share quantities" in last
    assert "APCA_ALLOW_FRACTIONAL" in last
    assert fake.order_count() == orders, "nothing was sent"


def test_entries_refused_422_leave_the_strategy_flat(
    fake: FakeAlpaca, files: tuple[Path, Path], model_dir: Path, tmp_path: Path
) -> None:
    """The 422 twin of the refused-entry test: after the start, Alpaca stops taking fractions of AAA and BBB, so
    each fractional entry is refused 422 (invalid quantity); it is recorded with the broker's message, never
    retried, and the strategy stays flat."""

    def no_fractions(f: FakeAlpaca, n: int) -> None:
        if n == 1:
            for a in f.book.assets.values():
                a["fractionable"] = False

    _on_slices(fake, no_fractions)
    url = f"sqlite:///{tmp_path}/q.db"
    longs_only = CONFIG + "allow_short = false\n"
    assert (
        run_forked(*_args(_levels_files(files, longs_only), model_dir, url, "q422"), env=_env(fake, **FRACTIONAL)) == 0
    )
    store = session_store(url, "q422")
    entries = [o for o in store.orders() if o["reason"] == "entry"]
    assert len(entries) >= 3
    assert {o["status"] for o in entries} == {"rejected"}
    assert all(o["message"] == "fractional orders must be simple market orders" for o in entries)
    posts = [s for m, p, s in fake.requests if m == "POST" and p == "/v2/orders"]
    assert posts == [422] * len(entries), "each refused once, never retried"
    assert fake.order_count() == 0 and not store.fills() and not fake.positions()
    strat = _strategy(url, store)
    assert all(strat.position(i) == (0, 0.0) and strat.pending(i) == 0 for i in range(len(strat.symbols)))
