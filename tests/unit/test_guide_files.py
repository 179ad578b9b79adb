"""The guide files in the package are what the CLI's command table makes of them.

``skill.md``'s command list and ``cli.md`` are generated from the registrar; if
a command is added, renamed or re-described without regenerating them, these
tests name the files to rebuild.
"""

from __future__ import annotations

import re
from pathlib import Path

from image_skill import guide
from image_skill.contract import commands
from image_skill.guide import build


def test_the_committed_guide_is_a_fresh_build() -> None:
    stale = sorted(path.name for path in build.stale_files())
    assert stale == [], f"run: python -m image_skill.guide.build  (stale: {stale})"


def _listed(text: str) -> list[str]:
    section = text.partition(build.START)[2].partition(build.END)[0]
    return re.findall(r"^- `(image-skill[a-z -]*)`: ", section, re.MULTILINE)


def test_the_skill_guide_lists_every_command_once_with_an_example() -> None:
    text = guide.read("skill")
    assert _listed(text) == list(commands.COMMANDS)
    section = text.partition(build.START)[2].partition(build.END)[0]
    for command in commands.COMMANDS:
        match = re.search(rf"^- `{re.escape(command)}`: .+\n  Example: `(.+)`$", section, re.M)
        assert match, command
        example = match.group(1)
        # The example runs that command (possibly after a pipe feeding its token).
        assert f"| {command}" in example or example.startswith(command), (command, example)


def test_the_cli_reference_has_a_section_and_an_example_per_command() -> None:
    text = guide.read("cli")
    headings = re.findall(r"^### (image-skill[a-z -]*)$", text, re.MULTILINE)
    assert headings == list(commands.COMMANDS)
    assert text.count("\nExample: `") == len(commands.COMMANDS)
    assert "- `--prompt TEXT`" in text or "- `--prompt PROMPT`" in text


def test_hand_written_examples_name_real_commands() -> None:
    stale = sorted(set(build.EXAMPLES) - set(commands.COMMANDS))
    assert stale == [], f"examples for commands that do not exist: {stale}"


def test_llms_txt_links_the_served_guide_and_docs() -> None:
    text = guide.read("llms")
    assert text.startswith("# Image Skill\n")
    for path in ("/skill.md", "/cli.md", "/docs", "/openapi.json"):
        assert f"]({path})" in text, path


def test_every_guide_file_has_a_media_type_and_a_path() -> None:
    for name in guide.FILES:
        assert guide.media_type(name).startswith("text/")
        path = guide.local_path(name)
        assert path is not None
        assert Path(path).read_text(encoding="utf-8") == guide.read(name)
