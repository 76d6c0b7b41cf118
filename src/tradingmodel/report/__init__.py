"""report stage (under construction)."""
