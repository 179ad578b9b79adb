"""Owned assets: metadata routes and media serving."""
