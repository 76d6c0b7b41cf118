"""Route modules of the API, one router each (``runs``: past backtests and sessions)."""
