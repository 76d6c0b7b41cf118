"""backtest stage (under construction)."""
