"""Image inspection and sanitization shared by the service's creative paths."""
