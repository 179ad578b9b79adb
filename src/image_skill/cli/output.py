"""The single place that prints a result and decides the exit code.

With ``--json`` stdout carries exactly one envelope and nothing else; without
it, humans get a few readable lines on stdout and warnings/errors on stderr.
"""

from __future__ import annotations

import json
import sys

# Not ``typing.TYPE_CHECKING``: every CLI call imports this module (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# Commands may register a human renderer for their success data (keyed by
# envelope ``command``); everything else uses ``render_human``.
HUMAN_RENDERERS: dict[str, Callable[[Any], str]] = {}


def emit(envelope: dict[str, Any], exit_code: int, *, json_mode: bool) -> int:
    """Print ``envelope`` for the chosen audience and return the exit code."""
    if json_mode:
        sys.stdout.write(json.dumps(envelope, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return exit_code
    for warning in envelope.get("warnings") or []:
        sys.stderr.write(f"warning: {warning}\n")
    if envelope.get("ok"):
        renderer = HUMAN_RENDERERS.get(str(envelope.get("command")), render_human)
        text = renderer(envelope.get("data"))
        if text:
            sys.stdout.write(text + "\n")
    else:
        error = envelope.get("error") or {}
        sys.stderr.write(f"error [{error.get('code')}]: {error.get('message')}\n")
        recovery = error.get("recovery") or {}
        if recovery.get("required_flag"):
            sys.stderr.write(f"  add: {recovery['required_flag']}\n")
        if recovery.get("suggested_command"):
            sys.stderr.write(f"  try: {recovery['suggested_command']}\n")
        if recovery.get("retry_after_seconds") is not None:
            sys.stderr.write(f"  retry after: {recovery['retry_after_seconds']} s\n")
    return exit_code


def render_human(data: Any, indent: str = "") -> str:
    """Concise ``key: value`` text for nested data (lists of scalars inline)."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict) and "usage" in data and "commands" in data:
        rows = [f"  {c['command']:<40} {c['summary']}" for c in data["commands"]]
        return str(data["usage"]).rstrip() + ("\n\ncommands:\n" + "\n".join(rows) if rows else "")
    if not isinstance(data, dict):
        return "" if data is None else json.dumps(data)
    lines: list[str] = []
    for key, value in data.items():
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, dict):
            inner = render_human(value, indent + "  ")
            if inner:
                lines.append(f"{indent}{key}:")
                lines.append(inner)
        elif isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            lines.append(f"{indent}{key}: {', '.join(str(v) for v in value)}")
        elif isinstance(value, list):
            lines.append(f"{indent}{key}:")
            for item in value:
                inner = render_human(item, indent + "    ")
                lines.append(f"{indent}  -" + (("\n" + inner) if inner else ""))
        else:
            lines.append(f"{indent}{key}: {value}")
    return "\n".join(lines)
