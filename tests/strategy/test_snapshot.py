"""Snapshots: the strategy (and the simulated executor) saved mid-run and restored continue exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tradingmodel.backtest.engine import run_prepared
from tradingmodel.backtest.prepare import prepare
from tradingmodel.execution.simulated import SimulatedExecutor
from tradingmodel.strategy import SnapshotError, StrategyState, snapshot
from tradingmodel.strategy import layout as L

from .test_two_phases import LIVE, bars_with_gaps


def run_from(state: StrategyState, sim: SimulatedExecutor, prep, t0: int) -> None:
    """Slices t0.. through the row-level phases, then the end-of-data close."""
    for t in range(t0, prep.mkt.shape[0]):
        state.apply_fill_rows(sim.on_bar_rows(prep.mkt[t], t))
        orders = state.decide_rows(prep.mkt[t], t, int(prep.days[t]))
        state.apply_fill_rows(sim.submit_rows(orders))
    state.apply_fills(sim.submit(state.end_orders()))


@pytest.fixture(scope="module")
def prep():
    return prepare(*bars_with_gaps())


def test_restore_mid_run_continues_exactly(prep):
    whole, _ = run_prepared(prep, LIVE)
    n_t = prep.mkt.shape[0]
    open_at_a_cut = False
    for cut in (1, n_t // 3, 2 * n_t // 3 + 7):
        state = StrategyState.new(prep.symbols, LIVE)
        sim = SimulatedExecutor.for_state(state)
        for t in range(cut):
            state.apply_fill_rows(sim.on_bar_rows(prep.mkt[t], t))
            state.apply_fill_rows(sim.submit_rows(state.decide_rows(prep.mkt[t], t, int(prep.days[t]))))
        open_at_a_cut |= bool(state.positions() or state.pending)
        head = state.used()
        with_logs = StrategyState.restore(state.snapshot(include_logs=True), symbols=prep.symbols)
        bare = StrategyState.restore(state.snapshot())
        sim_blob = sim.snapshot()
        del state, sim
        run_from(with_logs, SimulatedExecutor.restore(sim_blob, n_symbols=len(prep.symbols)), prep, cut)
        run_from(bare, SimulatedExecutor.restore(sim_blob), prep, cut)
        for a, b, h, tail in zip(whole.used(), with_logs.used(), head, bare.used(), strict=True):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, np.concatenate([h, tail]))
        np.testing.assert_array_equal(whole.acct, with_logs.acct)
        np.testing.assert_array_equal(whole.acct, bare.acct)
    assert open_at_a_cut  # a snapshot taken with a position or an order open


def test_snapshot_round_trip_is_bitwise(prep):
    state, _ = run_prepared(prep, LIVE)
    again = StrategyState.restore(state.snapshot(include_logs=True))
    assert again.symbols == state.symbols
    for name in ("p", "sf", "si", "acct", "counts"):
        np.testing.assert_array_equal(getattr(again, name), getattr(state, name))
        assert getattr(again, name).dtype == getattr(state, name).dtype
    assert again.snapshot(include_logs=True) == state.snapshot(include_logs=True)


def _rewrite(blob: bytes, drop: str | None = None, **changes) -> bytes:
    """The same snapshot in the older ``.npz`` container (still read), with some arrays replaced or one
    dropped (a corrupt or foreign one)."""
    arrays = {k: v for k, v in snapshot._read(blob, "test").items() if k != drop}
    arrays.update(changes)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_the_older_npz_container_restores_the_same_state(prep):
    state, _ = run_prepared(prep, LIVE)
    blob = state.snapshot(include_logs=True)
    assert blob.startswith(snapshot.MAGIC)
    old = _rewrite(blob)
    assert old.startswith(b"PK")  # a zip archive, as np.savez wrote every snapshot before
    assert StrategyState.restore(old).snapshot(include_logs=True) == blob
    restored = StrategyState.restore(blob)
    restored.sf[0, 0] += 1.0  # restored arrays are the state's own, writable
    with pytest.raises(SnapshotError, match=r"strategy snapshot: not a snapshot \(array '\w+' is cut short\)"):
        StrategyState.restore(blob[: len(blob) // 2])
    with pytest.raises(SnapshotError, match=r"not a snapshot \(3 bytes after the last array\)"):
        StrategyState.restore(blob + b"xyz")


def test_restore_refuses_a_wrong_snapshot_with_a_clear_error():
    state = StrategyState.new(["AAA", "BBB"], LIVE)
    blob = state.snapshot()
    with pytest.raises(SnapshotError, match=r"strategy snapshot: format version 2, this build reads version 1"):
        StrategyState.restore(_rewrite(blob, version__=np.array(2)))
    with pytest.raises(SnapshotError, match=r"array 'sf' has shape \(2, 6\), expected \(2, 7\) for 2 symbols"):
        StrategyState.restore(_rewrite(blob, sf=np.zeros((2, 6))))
    with pytest.raises(SnapshotError, match=r"array 'si' has dtype float64, expected int64"):
        StrategyState.restore(_rewrite(blob, si=np.zeros((2, L.NI))))
    with pytest.raises(SnapshotError, match=r"array 'acct' is missing"):
        StrategyState.restore(_rewrite(blob, drop="acct"))
    with pytest.raises(SnapshotError, match=r"symbols \['AAA', 'BBB'\] differ from \['AAA'\]"):
        StrategyState.restore(blob, symbols=["AAA"])
    with pytest.raises(SnapshotError, match=r"strategy snapshot: this is a simulated-executor snapshot"):
        StrategyState.restore(SimulatedExecutor.for_state(state).snapshot())
    with pytest.raises(SnapshotError, match=r"strategy snapshot: not a snapshot"):
        StrategyState.restore(b"definitely not a snapshot")
    with pytest.raises(SnapshotError, match=r"simulated-executor snapshot: 2 symbols, expected 3"):
        SimulatedExecutor.restore(SimulatedExecutor.for_state(state).snapshot(), n_symbols=3)
    with pytest.raises(SnapshotError, match=rf"strategy snapshot: {L.NP + 1} parameters, this build has {L.NP}"):
        StrategyState.restore(_rewrite(blob, p=np.zeros(L.NP + 1)))


def test_a_snapshot_from_before_the_execution_flags_restores_with_them_off():
    state = StrategyState.new(["AAA"], LIVE)
    old = _rewrite(state.snapshot(), p=state.p[: L.P_EMULATE_EXITS].copy())  # the 23 parameters of before
    again = StrategyState.restore(old)
    np.testing.assert_array_equal(again.p, state.p)
    assert not again.emulates_exits and not again.fractional
