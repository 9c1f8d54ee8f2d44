"""Channels application layer. For now only the membership look-ups that other areas
(sender keys) need; the channels work adds its commands and queries here."""
