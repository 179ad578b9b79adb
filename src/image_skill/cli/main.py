"""Entry point: parse, run one command, print one envelope, exit with its code."""

from __future__ import annotations

import sys

from image_skill import __version__


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # The version path imports nothing else: agents call it to probe the install.
    if args_list in (["--version"], ["-v"], ["version"]):
        sys.stdout.write(f"image-skill {__version__}\n")
        return 0
    from image_skill.cli.runner import run

    return run(args_list)
