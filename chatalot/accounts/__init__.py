"""Accounts application layer: commands (decision tables + appends), queries (projections),
and the read models that the projections runtime maintains."""
