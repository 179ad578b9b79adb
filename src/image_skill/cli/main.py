"""Entry point: parse, run one command, print one envelope, exit with its code.

Agents probe an install with ``--version`` (and ``--version --json``), so both
answer here, before any parser is built or any other module imported.
"""

from __future__ import annotations

import sys

from image_skill import __version__

_VERSION_FLAGS = (["--version"], ["-v"], ["version"])
_VERSION_JSON_FLAGS = ({"--version", "--json"}, {"-v", "--json"})


def version_data() -> dict[str, str]:
    """What ``version`` reports: this CLI's version, Python's and the API's."""
    # platform.python_version() without importing platform: the first word of sys.version.
    python = sys.version.split()[0]
    return {"version": __version__, "python": python, "api_version": "v1"}


def version_envelope() -> dict[str, object]:
    """The ``--version --json`` envelope, built without the envelope module's imports."""
    import os

    return {
        "ok": True,
        "command": "image-skill version",
        "trace_id": f"trace_{os.urandom(8).hex()}",  # what contract.ids.new_trace_id makes
        "actor": None,
        "data": version_data(),
        "warnings": [],
        "error": None,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # The version paths import nothing else: agents call them to probe the install.
    if args_list in _VERSION_FLAGS:
        sys.stdout.write(f"image-skill {__version__}\n")
        return 0
    if len(args_list) == 2 and set(args_list) in _VERSION_JSON_FLAGS:
        import json

        sys.stdout.write(json.dumps(version_envelope(), indent=2, ensure_ascii=False) + "\n")
        return 0
    from image_skill.cli.quick import is_quick

    if is_quick(args_list):
        import gc

        # A hot command (whoami, quota) is short and bounded: it leaves no cyclic garbage
        # worth collecting, and collections during its imports cost it ~2 ms.
        gc.disable()
    from image_skill.cli.runner import run

    return run(args_list)
