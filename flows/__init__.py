"""syndicate: flows."""
