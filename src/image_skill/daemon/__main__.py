"""``python -m image_skill.daemon``: the embedded service daemon (started by the CLI)."""

from __future__ import annotations

import sys

from image_skill.daemon.process import main

if __name__ == "__main__":
    sys.exit(main())
