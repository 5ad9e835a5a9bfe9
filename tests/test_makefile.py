"""The Makefile's entry points do what the README says (dry runs: `make -n`, nothing executed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dry_run(target: str) -> str:
    process = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert process.returncode == 0, process.stderr
    return process.stdout


def test_make_demo_does_not_install_the_test_browser() -> None:
    commands = dry_run("demo")
    assert "smart-support demo" in commands
    assert "chromium" not in commands and "apt-get" not in commands


@pytest.mark.parametrize("target", ["check", "test"])
def test_make_check_and_test_install_the_test_browser(target: str) -> None:
    commands = dry_run(target)
    assert "apt-get install -y -qq chromium" in commands
    assert "pytest" in commands
