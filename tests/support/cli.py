"""Running the real CLI as a subprocess and checking what it printed.

The checks every CLI run goes through (no traceback, no token where it must not
be, one envelope per ``--json`` run) live here for every test that drives the CLI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.envelopes import assert_envelope

CLI = [sys.executable, "-m", "image_skill"]
TRACEBACK = "Traceback (most recent call last)"
TOKEN_RE = re.compile(r"isk_r_[a-z2-7]{38}")


@dataclass
class CliRun:
    """The outcome of one CLI process."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def envelope(self) -> dict[str, Any]:
        """stdout parsed as the one JSON envelope it must be."""
        value = json.loads(self.stdout)
        assert isinstance(value, dict)
        return value

    @property
    def data(self) -> Any:
        """The envelope's data."""
        return self.envelope["data"]

    @property
    def code(self) -> str | None:
        """The envelope's error code."""
        error = self.envelope["error"]
        return None if error is None else str(error["code"])


RunCli = Callable[..., CliRun]


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> CliRun:
    """Run ``image-skill *args`` in a fresh interpreter with ``env`` over this one's."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    completed = subprocess.run(
        [*CLI, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    return CliRun(completed.returncode, completed.stdout, completed.stderr)


def expect(result: CliRun, exit_code: int, code: str | None = None) -> dict[str, Any]:
    """One envelope on stdout, the exit code, and the error code (None: success)."""
    assert result.exit_code == exit_code, result.stdout + result.stderr
    assert TRACEBACK not in result.stdout + result.stderr, result.stderr
    envelope = result.envelope
    assert_envelope(envelope, ok=code is None)
    assert result.code == code, envelope["error"]
    return envelope


def checked(cli: RunCli) -> RunCli:
    """``cli`` that also refuses tracebacks and tokens on stderr."""

    def run(*args: str, **kwargs: Any) -> CliRun:
        result = cli(*args, **kwargs)
        assert TRACEBACK not in result.stdout + result.stderr, result.stderr
        assert not TOKEN_RE.search(result.stderr), "a token leaked to stderr"
        return result

    return run


def checked_until_teardown(cli: RunCli, request: pytest.FixtureRequest) -> Iterator[RunCli]:
    """The body of a ``run`` fixture (``yield from``): ``cli`` that refuses tracebacks at
    once, and at teardown no token on any run's stderr nor in the log of the test's
    ``server`` fixture (when the test uses one)."""
    runs: list[CliRun] = []

    def run(*args: str, **kwargs: Any) -> CliRun:
        result = cli(*args, **kwargs)
        assert TRACEBACK not in result.stdout + result.stderr, result.stderr
        runs.append(result)
        return result

    yield run
    assert not [r.stderr for r in runs if TOKEN_RE.search(r.stderr)]
    if "server" in request.fixturenames:
        assert not TOKEN_RE.search(request.getfixturevalue("server").log())


def job_ids(run: RunCli, *extra: str, env: dict[str, str] | None = None) -> list[str]:
    """Ids of ``jobs list`` (first page of 100), newest first."""
    data = expect(run("jobs", "list", "--limit", "100", *extra, "--json", env=env), 0)["data"]
    return [job["job_id"] for job in data["jobs"]]
