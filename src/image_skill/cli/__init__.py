"""The image-skill command line."""
