"""Mistyped commands, flags and model ids get a "did you mean", through the real CLI.

Embedded mode (no server): the command and flag suggestions come from the
parser, the model id suggestion from the service's model lookup. Values that
might be a prompt or a secret are never echoed; flags always are.
"""

from __future__ import annotations

import pytest

from tests.support.cli import RunCli, checked, expect


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


def test_mistyped_commands_and_subcommands(run: RunCli) -> None:
    error = expect(run("crete", "--prompt", "a fox", "--json"), 2, "INVALID_ARGUMENTS")["error"]
    assert "Did you mean 'create'?" in error["message"]
    assert error["recovery"]["suggested_command"] == "image-skill create --help"
    sub = expect(run("models", "shwo", "--json"), 2, "INVALID_ARGUMENTS")
    assert sub["command"] == "image-skill models"
    assert "Did you mean 'show'?" in sub["error"]["message"]
    assert sub["error"]["recovery"]["suggested_command"] == "image-skill models show --help"
    # Nothing close: no guess, the help of the level that was wrong.
    far = expect(run("zzzzqqq", "--json"), 2, "INVALID_ARGUMENTS")["error"]
    assert "Did you mean" not in far["message"]
    assert far["recovery"]["suggested_command"] == "image-skill --help"
    # A prompt typed where the command belongs is not echoed back.
    prompt = expect(run("a hush red fox", "--json"), 2, "INVALID_ARGUMENTS")["error"]
    assert "hush" not in prompt["message"] and "invalid choice: '…'" in prompt["message"]


def test_mistyped_flags_are_named_with_the_closest_flag(run: RunCli) -> None:
    envelope = expect(
        run("create", "--promt", "hush secret prompt", "--json"), 2, "INVALID_ARGUMENTS"
    )
    error = envelope["error"]
    assert envelope["command"] == "image-skill create"
    assert error["message"] == (
        "Unrecognized arguments for image-skill create: --promt and 1 value (not shown). "
        "Did you mean --prompt?"
    )
    assert error["details"] == {"field": "--promt"}
    assert error["recovery"]["suggested_command"] == "image-skill create --help"
    assert "hush" not in envelope["error"]["message"]

    two = expect(run("jobs", "list", "--limt=5", "--jsn", "--json"), 2, "INVALID_ARGUMENTS")[
        "error"
    ]["message"]
    assert "--limt, --jsn and 1 value (not shown)" in two
    assert "--limit (for --limt)" in two and "--json (for --jsn)" in two

    # Abbreviations are not accepted: a prefix is a typo, not a silent alias.
    short = expect(run("jobs", "list", "--lim", "5", "--json"), 2, "INVALID_ARGUMENTS")
    assert "Did you mean --limit?" in short["error"]["message"]


def test_mistyped_model_id(run: RunCli) -> None:
    shown = expect(run("models", "show", "local.skech", "--json"), 2, "MODEL_NOT_FOUND")
    error = shown["error"]
    assert error["message"] == "No model 'local.skech'. Did you mean 'local.sketch'?"
    assert error["recovery"]["suggested_command"] == "image-skill models show local.sketch --json"
    planned = expect(
        run("create", "--prompt", "a fox", "--model", "local.sketchh", "--dry-run", "--json"),
        2,
        "MODEL_NOT_FOUND",
    )["error"]
    assert "Did you mean 'local.sketch'?" in planned["message"]
    far = expect(run("models", "show", "qqqqzzzz", "--json"), 2, "MODEL_NOT_FOUND")["error"]
    assert "Did you mean" not in far["message"]
    assert far["recovery"]["suggested_command"] == "image-skill models list --json"
