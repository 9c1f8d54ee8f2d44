"""The key server: events, rules and decisions (pure; no I/O)."""
