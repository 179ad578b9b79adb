"""``skill`` and ``docs``: the usage guide that ships with this version, read locally.

Both read text files from the installed package (``image_skill.guide``) and
never start or call the service, so they cost no more than ``version`` (and
the package's guide module is imported only when one of them runs). Against
a server, ``docs`` also names the URLs where that server serves the same texts.
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from image_skill import __version__
from image_skill.cli.context import Context
from image_skill.cli.output import HUMAN_RENDERERS
from image_skill.cli.parser import Registrar
from image_skill.result import Result

_SERVE_HINT = "image-skill serve --port 8787"
# Reference name -> (guide file or None for the API, served path, what it is).
_REFERENCES: tuple[tuple[str, str | None, str, str], ...] = (
    ("guide", "skill", "/skill.md", "the agent guide (also: image-skill skill)"),
    ("cli_reference", "cli", "/cli.md", "every command and flag"),
    ("llms_txt", "llms", "/llms.txt", "a short index for language models"),
    ("api_reference", None, "/docs", "the HTTP API (OpenAPI at /openapi.json)"),
)


def register(reg: Registrar) -> None:
    """Add ``skill`` and ``docs``."""
    reg.command("skill", run_skill, "Print the agent guide of this version (Markdown).")
    reg.command("docs", run_docs, "List the agent guide, the CLI reference and the API reference.")
    HUMAN_RENDERERS["image-skill skill"] = render_skill
    HUMAN_RENDERERS["image-skill docs"] = render_docs


def run_skill(_context: Context, _args: Namespace) -> Result:
    """The agent guide, as the envelope's ``data.guide``."""
    from image_skill import guide
    from image_skill.cli.runner import local_result

    data = {"version": __version__, "format": "markdown", "guide": guide.read("skill")}
    return local_result("image-skill skill", data)


def run_docs(context: Context, _args: Namespace) -> Result:
    """Where each reference is: a file in the package and, against a server, its URL."""
    from image_skill import guide
    from image_skill.cli.runner import local_result

    # Inside the server (the /v1/cli bridge) the server's own file paths are not the caller's.
    show_paths = context.base_source != "fixed"
    references: dict[str, dict[str, Any]] = {}
    for key, name, served_path, about in _REFERENCES:
        entry: dict[str, Any] = {"about": about}
        if name is not None and show_paths:
            entry["path"] = guide.local_path(name)
        entry["url"] = None if context.base_url is None else context.base_url + served_path
        if name == "skill":
            entry["command"] = "image-skill skill"
        if context.base_url is None and name is None:
            entry["command"] = _SERVE_HINT
            entry["note"] = "served by a running server at /docs; start one with the command"
        references[key] = entry
    data = {"version": __version__, "mode": context.mode, "references": references}
    return local_result("image-skill docs", data)


def render_skill(data: Any) -> str:
    """The guide itself, as Markdown."""
    return str(data.get("guide", "")).rstrip() if isinstance(data, dict) else ""


def render_docs(data: Any) -> str:
    """One block per reference: what it is, then where."""
    if not isinstance(data, dict):
        return ""
    lines = [f"image-skill {data.get('version')} ({data.get('mode')} mode)"]
    for key, entry in (data.get("references") or {}).items():
        lines.append(f"{key}: {entry.get('about')}")
        for field in ("command", "url", "path", "note"):
            if entry.get(field):
                lines.append(f"  {field}: {entry[field]}")
    return "\n".join(lines)
