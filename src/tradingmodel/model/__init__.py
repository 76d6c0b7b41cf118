"""model stage (under construction)."""
