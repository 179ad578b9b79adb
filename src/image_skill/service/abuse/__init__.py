"""Abuse limits: request rates (``limiter``, ``middleware``) and bounded request bodies.

See docs/abuse-limits.md for every setting and what an operator can expect.
"""
