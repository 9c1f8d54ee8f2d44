"""Chatalot: a self-hosted, end-to-end-encrypted chat backend built on an event log."""

__version__ = "0.1.0"
