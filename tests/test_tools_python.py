"""Python callables named in agents.yaml become LangChain tools, or a ConfigError that says why."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import ToolException

from smart_support.errors import ConfigError
from smart_support.registry import ToolSpec, load_registry
from smart_support.settings import Settings
from smart_support.tools import open_toolkit, resolve_toolkit
from smart_support.tools.python import PythonToolError, import_callable, python_tool

# The tools below are referenced as `test_tools_python:<name>` (tests/ is on sys.path).


def get_order(order_id: str, with_items: bool = False) -> dict[str, object]:
    """Look up an order by its number.

    Status and total; line items on request.

    Args:
        order_id: The order number, e.g. 1042.
        with_items: Include the line items.
    """
    order: dict[str, object] = {"order_id": order_id, "status": "shipped"}
    if with_items:
        order["items"] = ["mug"]
    return order


async def cancel_order(order_id: str) -> str:
    """Cancel an order that has not shipped.

    Args:
        order_id: The order number.
    """
    await asyncio.sleep(0)
    if order_id == "shipped":
        raise ToolException(f"order {order_id} has already shipped")
    return f"order {order_id} cancelled"


def refund_order(order_id: str, amount: float) -> str:
    """Refund part or all of an order.

    Args:
        order_id: The order number.
        amount: How much to refund, in euros.
    """
    return f"refunded {amount:.2f} on {order_id}"


def undocumented(order_id: str) -> str:
    return order_id


NOT_A_FUNCTION = 42


def _yaml(tmp_path: Path, tools: str) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "agents:\n"
        "  - name: general\n"
        "    description: Anything.\n"
        "    role: fallback\n"
        "    tools:\n" + tools
    )
    return path


def test_a_sync_function_becomes_a_tool_described_by_its_docstring() -> None:
    tool = python_tool(ToolSpec(python="test_tools_python:get_order", access="read"))

    assert tool.name == "get_order"
    assert (
        tool.description
        == "Look up an order by its number. Status and total; line items on request."
    )
    assert tool.args["order_id"]["description"] == "The order number, e.g. 1042."
    assert tool.args["with_items"]["default"] is False
    assert tool.metadata == {
        "access": "read",
        "summary": None,
        "source": "python:test_tools_python:get_order",
    }
    assert tool.invoke({"order_id": "1042", "with_items": True}) == {
        "order_id": "1042",
        "status": "shipped",
        "items": ["mug"],
    }


async def test_an_async_function_becomes_a_tool_that_is_awaited() -> None:
    spec = ToolSpec(python="test_tools_python:cancel_order", summary="Cancel order {order_id}")
    tool = python_tool(spec)

    assert await tool.ainvoke({"order_id": "7"}) == "order 7 cancelled"
    assert tool.metadata == {
        "access": "write",
        "summary": "Cancel order {order_id}",
        "source": "python:test_tools_python:cancel_order",
    }


async def test_a_tool_exception_reaches_the_model_as_an_error_message() -> None:
    tool = python_tool(ToolSpec(python="test_tools_python:cancel_order"))
    call = {
        "id": "c1",
        "name": "cancel_order",
        "args": {"order_id": "shipped"},
        "type": "tool_call",
    }

    message = await tool.ainvoke(call)

    assert isinstance(message, ToolMessage)
    assert message.status == "error"
    assert message.content == "order shipped has already shipped"


def test_the_name_field_renames_the_tool() -> None:
    tool = python_tool(ToolSpec(python="test_tools_python:get_order", name="lookup_order"))

    assert tool.name == "lookup_order"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("smart_support_missing_pkg.tools:get", "no module named 'smart_support_missing_pkg'"),
        ("test_tools_python:no_such_function", "has no attribute 'no_such_function'"),
        ("test_tools_python:NOT_A_FUNCTION", "is int, not a function"),
        ("collections:OrderedDict", "is a class, not a function"),
    ],
)
def test_a_reference_that_does_not_resolve_says_why(reference: str, message: str) -> None:
    with pytest.raises(PythonToolError, match=message):
        import_callable(reference)


def test_a_function_without_a_docstring_is_refused() -> None:
    with pytest.raises(PythonToolError, match="has no docstring"):
        python_tool(ToolSpec(python="test_tools_python:undocumented"))


def test_a_module_that_fails_to_import_names_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ss_broken_tools.py").write_text("raise RuntimeError('database url missing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(PythonToolError, match="importing 'ss_broken_tools' failed: RuntimeError"):
        import_callable("ss_broken_tools:anything")


async def test_open_toolkit_gives_each_agent_its_python_tools(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        "      - python: test_tools_python:get_order\n"
        "        access: read\n"
        "      - python: test_tools_python:refund_order\n",
    )
    async with open_toolkit(load_registry(path), Settings()) as toolkit:
        tools = toolkit.tools_for("general")

        assert [t.name for t in tools] == ["get_order", "refund_order"]
        assert toolkit.access("get_order") == "read"
        assert toolkit.access("refund_order") == "write"
        assert toolkit.access("never_declared") == "write"
        assert await tools[1].ainvoke({"order_id": "9", "amount": 5}) == "refunded 5.00 on 9"


async def test_an_unresolvable_reference_fails_open_toolkit_with_its_line(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        "      - python: test_tools_python:get_order\n"
        "        access: read\n"
        "      - python: test_tools_python:nope\n",
    )
    with pytest.raises(ConfigError) as caught:
        async with open_toolkit(load_registry(path), Settings()):
            pass

    assert str(caught.value) == (
        f"{path}:8: agents[0].tools[1].python: module 'test_tools_python' has no attribute 'nope'"
    )


async def test_one_tool_name_with_two_meanings_across_agents_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "agents:\n"
        "  - name: general\n"
        "    description: Anything.\n"
        "    role: fallback\n"
        "    tools:\n"
        "      - python: test_tools_python:get_order\n"
        "        access: read\n"
        "  - name: orders\n"
        "    description: Orders.\n"
        "    tools:\n"
        "      - python: test_tools_python:get_order\n"
    )
    async with resolve_toolkit(load_registry(path), Settings()) as (_, errors):
        assert [(e.line, e.field) for e in errors] == [(11, "agents[1].tools[0]")]
        assert "a tool name must mean one thing across agents" in str(errors[0])


class Orders:
    @staticmethod
    def track_order(order_id: str) -> str:
        """Where an order is.

        Args:
            order_id: The order number.
        """
        return f"{order_id} is on its way"


def test_a_static_method_can_be_named_with_its_class() -> None:
    tool = python_tool(ToolSpec(python="test_tools_python:Orders.track_order", access="read"))

    assert tool.name == "track_order"
    assert tool.invoke({"order_id": "5"}) == "5 is on its way"


async def test_a_summary_naming_an_unknown_argument_is_refused(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        '      - python: test_tools_python:cancel_order\n        summary: "Cancel order {order}"\n',
    )
    with pytest.raises(ConfigError) as caught:
        async with open_toolkit(load_registry(path), Settings()):
            pass

    assert str(caught.value) == (
        f"{path}:6: agents[0].tools[0].summary: the summary uses {{order}}, "
        "which is not an argument of 'cancel_order' (arguments: order_id)"
    )


def test_a_malformed_summary_template_is_refused_when_loading(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        "      - python: test_tools_python:cancel_order\n"
        '        summary: "Cancel order {order_id"\n',
    )
    with pytest.raises(ConfigError, match=r":7: agents\[0\]\.tools\[0\]\.summary: not a valid"):
        load_registry(path)
