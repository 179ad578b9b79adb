"""Owned asset storage."""
