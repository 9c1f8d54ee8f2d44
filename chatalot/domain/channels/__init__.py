"""Channels: rules (pure; no I/O). The channels work adds its events and decisions here."""
