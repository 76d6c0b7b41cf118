"""Alpaca broker adapter: :class:`AlpacaExecutor` (through the official alpaca-py client) and a loopback fake.

See ``docs/alpaca.md``. The fake (:mod:`.fake`) is imported on its own, never by the executor.
"""

from tradingmodel.execution.alpaca.executor import AlpacaExecutor
from tradingmodel.execution.alpaca.settings import AlpacaConfig, config_from_settings, stream_url_for

__all__ = ["AlpacaConfig", "AlpacaExecutor", "config_from_settings", "stream_url_for"]
