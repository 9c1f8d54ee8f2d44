"""The spaces bounded context: communities, groups, channels, DMs, roles and moderation."""
