"""Files and media: events, rules and decisions (pure; no I/O)."""
