"""execution stage (under construction)."""
