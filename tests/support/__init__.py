"""Helpers shared by the test modules, the conftest fixtures and the benchmarks.

One module per kind of thing: ``servers`` (real ``image-skill serve`` processes),
``cli`` (running the CLI and checking what it printed), ``databases`` (blank
SQLite and PostgreSQL databases), ``apps`` (the app in-process), ``agents``
(signed-up agents), ``envelopes``, ``images``, ``ledger`` (the credit ledger's
invariants), ``plugins`` (the counting provider), ``routes`` (the app's route
table), ``web`` (a loopback web server and token-free fetches) and ``burst``
(many creates at once, shared with ``bench/provider_concurrency.py``).
"""
