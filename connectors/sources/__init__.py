"""syndicate: connectors/sources."""
