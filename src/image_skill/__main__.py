"""``python -m image_skill``."""

from image_skill.cli.main import main

raise SystemExit(main())
