"""features stage (under construction)."""
