"""api stage (under construction)."""
