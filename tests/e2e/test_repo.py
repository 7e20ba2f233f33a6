"""The repository itself: what git may and may not pick up."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _ignored(path: str) -> bool:
    result = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "--no-index", "-q", path], timeout=30
    )
    assert result.returncode in (0, 1), result
    return result.returncode == 0


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout"
)
def test_real_profiles_are_ignored_demo_ones_are_not() -> None:
    # A user's real cookies must never be committed by `git add .`.
    assert _ignored("auth_profiles/saved/alice.json")
    assert _ignored("auth_profiles/saved/work/bob.json")
    assert not _ignored("auth_profiles/saved/demo-a.json")
    assert not _ignored("auth_profiles/saved/demo-b.json")


def test_pyproject_license_is_an_spdx_string() -> None:
    """A `project.license` table makes setuptools print its deprecation box
    three times on every install (issue 28 item 15); a string needs >= 77."""
    import tomllib

    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert isinstance(meta["project"]["license"], str)
    assert "setuptools>=77" in meta["build-system"]["requires"]
