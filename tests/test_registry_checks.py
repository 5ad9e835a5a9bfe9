"""`check:` on write tools: validated against the agent's read tools, with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from smart_support.registry import validate_command
from smart_support.settings import Settings

HEAD = (
    "agents:\n"
    "  - name: general\n"
    "    description: Anything.\n"
    "    role: fallback\n"
    "    tools:\n"
    "      - python: engine_tools:lookup_order\n"
    "        access: read\n"
    "      - python: engine_tools:cancel_order\n"
    "        access: write\n"
)


def validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "agents.yaml"
    path.write_text(text)
    code = validate_command(path, Settings())
    return code, capsys.readouterr().err.replace(str(path), "agents.yaml")


def test_a_check_naming_a_read_tool_of_the_agent_is_accepted(tmp_path, capsys):
    code, err = validate(
        tmp_path,
        HEAD + "        check: {tool: lookup_order, expect: {status: [pending]}}\n",
        capsys,
    )
    assert (code, err) == (0, "")


def test_a_check_naming_no_tool_of_the_agent_is_refused_with_its_line(tmp_path, capsys):
    code, err = validate(tmp_path, HEAD + "        check: {tool: get_weather}\n", capsys)
    assert code == 1
    assert err == (
        "error: agents.yaml:8: agents[0].tools[1].check.tool: check tool 'get_weather' is not a "
        "tool of this agent (read tools: lookup_order)\n"
    )


def test_a_check_naming_a_write_tool_is_refused(tmp_path, capsys):
    code, err = validate(tmp_path, HEAD + "        check: {tool: cancel_order}\n", capsys)
    assert code == 1
    assert "check tool 'cancel_order' is not a read tool" in err


def test_a_check_on_a_read_tool_is_refused(tmp_path, capsys):
    text = HEAD.replace(
        "        access: read\n", "        access: read\n        check: {tool: lookup_order}\n", 1
    )
    code, err = validate(tmp_path, text, capsys)
    assert code == 1
    assert "`check:` goes only with `access: write`" in err
