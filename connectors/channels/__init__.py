"""syndicate: connectors/channels."""
