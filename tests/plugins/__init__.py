"""Test-only provider plugins (loaded through ``IMAGE_SKILL_PLUGINS``)."""
