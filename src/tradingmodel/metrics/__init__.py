"""metrics stage (under construction)."""
