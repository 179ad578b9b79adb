"""Quota: what an actor may still spend today."""
