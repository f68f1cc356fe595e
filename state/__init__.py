"""syndicate: state."""
