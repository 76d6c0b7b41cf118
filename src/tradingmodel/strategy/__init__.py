"""Strategy: the per-symbol state machine (entries, exits) and the risk manager, compiled with numba.

``core.step`` is the one implementation of the rules; :class:`StrategyState` + :func:`step` call it
from Python bar slice by bar slice (live engine), the backtest calls it inside its compiled loop.
"""

from tradingmodel.strategy.jitcache import invalidate_stale_caches

invalidate_stale_caches()  # before any compiled function is loaded from numba's disk cache

from tradingmodel.strategy.core import entry_signal  # noqa: E402
from tradingmodel.strategy.state import StrategyState, close_all, step  # noqa: E402

__all__ = ["StrategyState", "close_all", "entry_signal", "step"]
