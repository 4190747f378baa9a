"""End-to-end checks from the host, through the 127.0.0.1 forwards only."""
