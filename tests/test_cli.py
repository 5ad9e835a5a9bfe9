"""The `smart-support` command: settings errors are one clear line, commands exist."""

from __future__ import annotations

import os
import subprocess
import sys


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "smart_support.cli", *args],
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_bad_setting_stops_start_up_with_one_line_naming_it():
    result = run("chat", env={"APPROVAL_TTL_SECONDS": "soon"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "APPROVAL_TTL_SECONDS" in lines[0]
    assert lines[0].startswith("error: ")


def test_an_unreadable_agents_file_stops_the_chat_with_the_file_named(tmp_path):
    broken = tmp_path / "agents.yaml"
    broken.write_text("version: 1\nagents:\n  - name: Bad Name\n")
    result = run(
        "chat", env={"AGENTS_FILE": str(broken), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    )
    assert result.returncode == 2
    assert str(broken) in result.stderr or "agents.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in ("chat", "serve", "demo", "shop", "fetch", "agents"):
        assert command in result.stdout
