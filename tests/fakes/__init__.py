"""Fakes of outside services at the wire: loopback HTTP servers the real client libraries talk to."""
