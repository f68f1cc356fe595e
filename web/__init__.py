"""syndicate: web."""
