"""File commands by capability: uploads, moderation (delete, quarantine, blocked hashes),
media (avatars, banners, icons, voice backgrounds)."""
