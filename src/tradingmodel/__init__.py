"""tradingmodel: intraday US-equity trading with an LSTM price model.

The pipeline, one package per stage: ``data`` (bars, sources, validation) → ``features`` → ``model``
→ ``strategy`` (signals, risk) → ``backtest`` / ``live`` (via ``execution``) → ``metrics`` → ``report``;
``store`` persists bars, runs, orders and fills; ``api`` and ``cli`` are thin layers over these.
"""

__version__ = "0.1.0"
