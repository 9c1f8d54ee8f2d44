"""Instance announcements (docs/announcements.md)."""
