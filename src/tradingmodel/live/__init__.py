"""live stage (under construction)."""
