"""strategy stage (under construction)."""
