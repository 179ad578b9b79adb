"""``scripts/test-postgres``: one throwaway PostgreSQL per checkout, quiet in a private one.

Two copies of the script in two private checkouts (mode 0700, as a home directory
often is) start two servers on different ports and directories, print no
"Permission denied" (PostgreSQL's tools run as the postgres user when the caller
is root, and must not try to enter the checkout), answer ``running`` while up,
and ``stop`` stops only their own.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "test-postgres"

pytestmark = pytest.mark.slow  # initdb twice


def has_postgres() -> bool:
    return any(Path("/usr/lib/postgresql").glob("*/bin/initdb"))


def script(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(checkout / "scripts" / "test-postgres"), *args],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def checkouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Two private checkouts holding the script; their servers stopped at the end."""
    if not has_postgres():
        pytest.skip("PostgreSQL's server package is not installed")
    for name in ("IMAGE_SKILL_TEST_PG_DIR", "IMAGE_SKILL_TEST_PG_PORT", "TMPDIR"):
        monkeypatch.delenv(name, raising=False)
    made = []
    for name in ("one", "two"):
        checkout = tmp_path / name / "checkout"
        (checkout / "scripts").mkdir(parents=True)
        shutil.copy2(SCRIPT, checkout / "scripts" / "test-postgres")
        (tmp_path / name).chmod(0o700)
        made.append(checkout)
    yield made
    for checkout in made:
        script(checkout, "stop")


def test_each_checkout_has_its_own_server(checkouts: list[Path]) -> None:
    one, two = checkouts
    assert script(one, "running").returncode != 0
    started = [script(checkout) for checkout in checkouts]
    for result in started:
        assert result.returncode == 0, result.stderr
        assert "Permission denied" not in result.stdout + result.stderr
    urls = [result.stdout.strip().splitlines()[-1] for result in started]
    assert all(url.startswith("postgresql://postgres@127.0.0.1:") for url in urls)
    assert urls[0] != urls[1]
    # Started again, each reuses its own.
    assert script(one).stdout.strip().splitlines()[-1] == urls[0]

    data_dirs = set(Path("/tmp").glob("image-skill-test-pg-*"))
    assert script(one, "stop").returncode == 0
    assert script(one, "running").returncode != 0
    assert script(two, "running").returncode == 0  # the other checkout's is untouched
    assert len(data_dirs - set(Path("/tmp").glob("image-skill-test-pg-*"))) == 1  # removed
