"""Python callables as tools: `package.module:function` in agents.yaml becomes a LangChain tool.

The docstring is what the model reads: its text before `Args:` becomes the description and the
Google-style `Args:` section describes each argument. A sync function runs in a worker thread.
Raise `langchain_core.tools.ToolException` for an error the model should see and may work around;
any other exception (including `smart_support.errors.ToolError`) propagates to the runtime.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from smart_support.registry.schema import ToolSpec

log = logging.getLogger("smart_support.tools")


class PythonToolError(Exception):
    """A `python:` reference that cannot become a tool; the message says why."""


def import_callable(reference: str) -> Callable[..., Any]:
    """Import `package.module:function` and check that it is a function.

    Args:
        reference: `package.module:function`, or `package.module:Class.method` for a
            static or class method.

    Returns:
        The callable.

    Raises:
        PythonToolError: The module cannot be imported, has no such attribute, or the attribute
            is not a function.
    """
    module_name, _, attribute = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise PythonToolError(f"no module named {exc.name!r}") from None
        raise PythonToolError(f"importing {module_name!r} failed: {exc}") from None
    except Exception as exc:  # the module's own import-time bug is the operator's to fix
        raise PythonToolError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PythonToolError(
                f"module {module_name!r} has no attribute {attribute!r}"
            ) from None
    if inspect.isclass(target) or not callable(target):
        kind = "a class" if inspect.isclass(target) else type(target).__name__
        raise PythonToolError(f"{reference!r} is {kind}, not a function")
    return target  # type: ignore[no-any-return]


def _is_async(func: Callable[..., Any]) -> bool:
    call = getattr(func, "__call__", None)  # noqa: B004 - async callable objects count too
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(call)


def python_tool(spec: ToolSpec) -> BaseTool:
    """Build the LangChain tool for a `python:` entry.

    Args:
        spec: The tool entry; `spec.python` must be set.

    Returns:
        A StructuredTool named after the function (or `spec.name`), whose metadata holds
        `access`, `summary` and `source`.

    Raises:
        PythonToolError: The reference does not resolve, or the function has no docstring.
    """
    assert spec.python is not None
    func = import_callable(spec.python)
    if not inspect.getdoc(func):
        raise PythonToolError(
            f"{spec.python!r} has no docstring; its docstring is the description the model reads"
        )
    kwargs: dict[str, Any] = {"coroutine": func} if _is_async(func) else {"func": func}
    name = spec.name or getattr(func, "__name__", None) or spec.python.rsplit(":", 1)[1]
    try:
        tool = StructuredTool.from_function(
            **kwargs, name=name, parse_docstring=True, error_on_invalid_docstring=False
        )
    except Exception as exc:  # e.g. a signature pydantic cannot describe
        raise PythonToolError(f"{spec.python!r} cannot become a tool: {exc}") from None
    tool.handle_tool_error = True
    tool.metadata = spec.metadata()
    log.debug("python tool %s from %s (%s)", name, spec.python, spec.access)
    return tool
