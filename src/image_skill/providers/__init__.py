"""Provider plugins and their built-in implementations."""
