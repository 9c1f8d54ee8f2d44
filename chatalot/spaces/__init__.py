"""The spaces bounded context (docs/spaces.md)."""
