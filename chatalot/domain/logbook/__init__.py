"""Who may read which part of the log (issue 11)."""
