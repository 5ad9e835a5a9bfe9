"""agents.yaml: valid files load, broken ones fail with file:line: field: message."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import smart_support.demo
from smart_support.cli import main
from smart_support.errors import ConfigError
from smart_support.registry import load_registry, read_registry, validate_command
from smart_support.registry.validate import demo_agents_file
from smart_support.settings import Settings

DATA = Path(__file__).parent / "data" / "agents"


def test_a_valid_file_loads_with_roles_tools_and_defaults() -> None:
    registry = load_registry(DATA / "valid.yaml")

    assert [a.name for a in registry.agents] == ["orders", "billing", "general", "human"]
    assert [a.name for a in registry.specialists] == ["orders", "billing"]
    assert registry.fallback.name == "general"
    assert registry.escalation is not None and registry.escalation.name == "human"
    orders = registry.agent("orders")
    assert orders.personality == "You are the orders specialist.\n"
    assert orders.examples == ["What's the status of order 1042?", "Cancel my order please"]
    get_order, cancel, tracking = orders.tools
    assert (get_order.python, get_order.access, get_order.summary) == (
        "test_tools_python:get_order",
        "read",
        None,
    )
    assert (cancel.access, cancel.summary) == ("write", "Cancel order {order_id}")
    assert (tracking.mcp, tracking.tool, tracking.python) == ("shop", "get_tracking", None)
    undeclared = registry.agent("billing").tools[0]
    assert undeclared.access == "write"
    assert registry.agent("billing").role == "specialist"
    assert registry.mcp_servers["shop"].command == ["python", "../../mcp_servers/shop_server.py"]


def test_asking_for_an_unknown_agent_names_it() -> None:
    registry = load_registry(DATA / "valid.yaml")
    with pytest.raises(KeyError, match="no agent named 'nobody'"):
        registry.agent("nobody")


@pytest.mark.parametrize(
    ("name", "line", "field", "message"),
    [
        ("bad_access", 11, "agents[1].tools[1].access", "Input should be 'read' or 'write'"),
        ("unknown_key", 5, "agents[0].exampels", "unknown key; did you mean 'examples'? (allowed"),
        ("duplicate_agents", 7, "agents[2].name", "duplicate agent name 'orders'"),
        ("no_fallback", 1, "agents", "exactly one agent needs `role: fallback`"),
        ("two_fallbacks", 7, "agents[1].role", "only one agent may have `role: fallback`"),
        ("two_escalations", 10, "agents[2].role", "only one agent may have `role: escalation`"),
        ("bad_name", 2, "agents[0].name", "'Order-Desk' is not a valid name"),
        (
            "two_sources",
            9,
            "agents[0].tools[0]",
            "exactly one source: `python:`, `mcp:` or `openapi:`",
        ),
        ("tool_without_mcp", 6, "agents[0].tools[0]", "`tool:` goes only with `mcp:`"),
        ("undeclared_server", 9, "agents[0].tools[0].mcp", "'warehouse' is not declared"),
        ("server_both_transports", 2, "mcp_servers.shop", "exactly one of `command:`"),
        ("server_bad_url", 3, "mcp_servers.shop.url", "is not an http:// or https:// URL"),
        ("wrong_types", 5, "agents[0].examples", "Input should be a valid list"),
        ("duplicate_tool", 8, "agents[0].tools[1]", "duplicate tool name 'get_order'"),
        ("duplicate_key", 5, "agents[0].role", "duplicate key 'role'"),
    ],
)
def test_each_kind_of_invalid_file_names_its_line_and_field(
    name: str, line: int, field: str, message: str
) -> None:
    path = DATA / f"{name}.yaml"
    with pytest.raises(ConfigError) as caught:
        load_registry(path)

    error = caught.value
    assert (error.file, error.line, error.field) == (str(path), line, field)
    assert str(error).startswith(f"{path}:{line}: {field}: ")
    assert message in str(error)


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        ("syntax_error", 5, "invalid YAML: while scanning a quoted scalar that starts on line 3"),
        ("two_documents", 5, "expected a single document"),
        ("billion_laughs", 1, "too large or too deeply nested"),
        ("python_tag", 3, "tags such as 'tag:yaml.org,2002:python/object/apply:os.system'"),
        ("top_level_list", 1, "the file must be a mapping with `agents:`"),
        ("empty", None, "the file is empty"),
        ("comments_only", None, "the file is empty"),
    ],
)
def test_hostile_or_malformed_yaml_is_refused_with_a_clear_message(
    name: str, line: int | None, message: str
) -> None:
    path = DATA / f"{name}.yaml"
    with pytest.raises(ConfigError) as caught:
        load_registry(path)

    assert caught.value.line == line
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the file"):
        load_registry(path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("agents:\n  - name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_registry(path)


def test_a_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("# padding\n" * 200_000)
    with pytest.raises(ConfigError, match="larger than"):
        load_registry(path)


def test_every_error_is_collected_and_load_registry_counts_the_rest() -> None:
    path = DATA / "many_errors.yaml"
    registry, errors = read_registry(path)

    assert registry is None
    assert [(e.line, e.field) for e in errors] == [
        (6, "agents[0].tools[0].python"),
        (7, "agents[0].tools[1]"),
        (8, "agents[1].description"),
        (9, "agents[1].colour"),
    ]
    with pytest.raises(ConfigError) as caught:
        load_registry(path)
    assert caught.value.line == 6
    assert str(caught.value).endswith(f"(and 3 more: `smart-support agents validate {path}`)")


def test_validate_exits_non_zero_and_prints_every_error() -> None:
    path = DATA / "many_errors.yaml"
    result = CliRunner().invoke(main, ["agents", "validate", str(path)])

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 4
    assert lines[0] == (
        f"error: {path}:6: agents[0].tools[0].python: 'not a reference' is not a reference "
        "of the form package.module:function"
    )
    assert all(line.startswith(f"error: {path}:") for line in lines)
    assert result.stdout == ""


def test_validate_exits_zero_on_a_valid_file_after_resolving_every_tool() -> None:
    result = CliRunner().invoke(main, ["agents", "validate", str(DATA / "valid.yaml")])

    assert result.stderr == ""
    assert result.exit_code == 0
    # get_order, cancel_order, get_tracking, refund_order: distinct names across agents
    assert result.stdout.strip() == "ok: 4 agents, 4 tools"


def test_validate_reports_tools_that_do_not_resolve(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "agents:\n"
        "  - name: general\n"
        "    description: Anything.\n"
        "    role: fallback\n"
        "    tools:\n"
        "      - python: smart_support_no_such_module:get_order\n"
    )
    code = validate_command(path, Settings())

    assert code == 1
    assert capsys.readouterr().err == (
        f"error: {path}:6: agents[0].tools[0].python: "
        "no module named 'smart_support_no_such_module'\n"
    )


def test_validate_without_a_file_uses_the_agents_file_setting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = validate_command(None, Settings(agents_file=DATA / "no_fallback.yaml"))

    assert code == 1
    assert "no_fallback.yaml:1: agents: exactly one agent" in capsys.readouterr().err


def test_yaml_anchors_can_share_a_tool_list(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "agents:\n"
        "  - name: general\n"
        "    description: Anything.\n"
        "    role: fallback\n"
        "    tools: &lookups\n"
        "      - python: shop.tools:get_order\n"
        "        access: read\n"
        "  - name: orders\n"
        "    description: Orders.\n"
        "    tools: *lookups\n"
    )
    registry = load_registry(path)

    assert registry.agent("orders").tools == registry.agent("general").tools
    assert registry.agent("orders").tools[0].access == "read"


def test_merge_keys_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "base: &base\n"
        "  description: Anything.\n"
        "agents:\n"
        "  - name: general\n"
        "    <<: *base\n"
        "    role: fallback\n"
    )
    with pytest.raises(ConfigError, match=r"agents\.yaml:5: merge keys \(<<\) are not supported"):
        load_registry(path)


def test_the_demo_agents_file_is_found_inside_the_package() -> None:
    path = demo_agents_file()

    assert path.parent == Path(smart_support.demo.__file__).parent
    assert path.name == "agents.yaml"
    assert path.is_file()
