"""Operator actions on the service's own database (``image-skill admin``), never over HTTP."""
