"""syndicate: connectors."""
