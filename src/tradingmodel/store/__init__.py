"""store stage (under construction)."""
