"""The embedded mode's warm local service: one private daemon per data directory.

Starting the service app costs ~1.5 s of CPU (FastAPI, SQLAlchemy, pydantic,
the app's lifespan). Paying that on every embedded CLI command made embedded
mode, the default, the slowest way to use the CLI. So the first embedded
command starts this same app (same settings, the local owner, offline) as a
background process serving HTTP on a unix socket inside the data directory,
and later commands reach it over the light, stdlib hosted code path
(``transport.unix``). ``IMAGE_SKILL_EMBEDDED_DAEMON=0`` keeps the old
in-process behaviour for sandboxes that forbid background processes.

``files`` holds the paths, permissions and fingerprint both sides agree on;
``launcher`` is the CLI side (find, check, start, stop); ``process`` is the
daemon itself (``python -m image_skill.daemon``). See docs/embedded.md.
"""
