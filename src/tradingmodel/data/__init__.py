"""data stage (under construction)."""
