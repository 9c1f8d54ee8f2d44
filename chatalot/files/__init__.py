"""Files and media (issue 16): uploads, downloads, images, avatars, quotas, moderation."""
