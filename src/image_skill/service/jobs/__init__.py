"""Durable jobs: views, listing and crash recovery."""
