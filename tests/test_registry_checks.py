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


def test_validate_reports_a_bad_field_and_a_broken_reference_in_one_run(tmp_path, capsys):
    text = (
        "agents:\n"
        "  - name: general\n"
        "    description: Anything.\n"
        "    role: fallback\n"
        "    tools:\n"
        "      - python: engine_tools:lookup_order\n"
        "        access: maybe\n"
        "      - python: engine_tools:no_such_function\n"
        "        access: read\n"
        "      - python: no_such_module:tool\n"
        "        access: read\n"
    )
    code, err = validate(tmp_path, text, capsys)

    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 3, err
    assert lines[0].startswith("error: agents.yaml:7: agents[0].tools[0].access:")
    assert lines[1].startswith("error: agents.yaml:8: agents[0].tools[1].python:")
    assert "no_such_function" in lines[1]
    assert lines[2].startswith("error: agents.yaml:10: agents[0].tools[2].python:")


def test_a_write_needing_a_customer_without_an_ownership_check_is_refused(tmp_path, capsys):
    code, err = validate(tmp_path, HEAD + "        needs_customer: true\n", capsys)

    assert code == 1
    assert "agents[0].tools[1]" in err and "prove ownership before approval" in err


def test_owner_on_a_write_is_refused(tmp_path, capsys):
    code, err = validate(
        tmp_path, HEAD + "        owner: {field: customer_email, claim: email}\n", capsys
    )

    assert code == 1
    assert "`owner:` goes only with `access: read`" in err


def test_bind_naming_an_argument_the_tool_lacks_is_refused_with_its_arguments(tmp_path, capsys):
    text = HEAD.replace(
        "        access: read\n", "        access: read\n        bind: {customer: email}\n"
    )
    code, err = validate(tmp_path, text, capsys)

    assert code == 1
    assert "agents[0].tools[0].bind: bind names 'customer'" in err and "order_id" in err
