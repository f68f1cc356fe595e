"""syndicate: compose."""
