"""Instance announcements: the events and the rules (docs/announcements.md)."""
