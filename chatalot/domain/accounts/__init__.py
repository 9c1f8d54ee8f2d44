"""Accounts: events, rules and decisions (pure; no I/O)."""
