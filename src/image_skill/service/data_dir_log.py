"""Where an embedded service's logs go: a file in the data directory, never the terminal.

The embedded CLI (in-process) and its local daemon both run the service for one
user on one data directory; their log lines belong next to that data, not on the
CLI's stdout/stderr, where they would corrupt ``--json`` output. Kept apart from
the transports so the daemon can set it up without importing an HTTP client.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path


def log_to_data_dir(home: Path) -> None:
    """Service logs go to ``<home>/logs/service.log``, never to the CLI's stdout/stderr."""
    logger = logging.getLogger("image_skill")
    if logger.handlers:
        return
    logger.propagate = False
    try:
        (home / "logs").mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(home / "logs" / "service.log")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    if os.environ.get("IMAGE_SKILL_DEBUG"):
        logger.addHandler(logging.StreamHandler())
