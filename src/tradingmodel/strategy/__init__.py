"""Strategy: the per-symbol state machine (entries, exits) and the risk manager, compiled with numba.

The rules run in two compiled phases per time slice (:mod:`.core`): ``apply_fills`` (what an executor
reports) and ``decide`` (exits, risk state, entries -> orders). :class:`StrategyState` calls them from
Python for a live engine (:meth:`~StrategyState.apply_fills`, :meth:`~StrategyState.decide`, snapshots);
the backtest calls them in its compiled loop with the simulated executor
(:mod:`tradingmodel.execution.fills`) in between; :func:`step` is that same path from Python.
"""

from tradingmodel.strategy.jitcache import invalidate_stale_caches

invalidate_stale_caches()  # before any compiled function is loaded from numba's disk cache

from tradingmodel.strategy.core import entry_signal  # noqa: E402
from tradingmodel.strategy.messages import Fill, Order, Rejection  # noqa: E402
from tradingmodel.strategy.snapshot import SnapshotError  # noqa: E402
from tradingmodel.strategy.state import StrategyState, close_all, step  # noqa: E402

__all__ = ["Fill", "Order", "Rejection", "SnapshotError", "StrategyState", "close_all", "entry_signal", "step"]
