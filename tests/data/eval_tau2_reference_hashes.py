"""Recompute the retail-tau2 template's data/reference_hashes.json with tau2-bench's retail code.

Usage: `python reference_hashes.py /path/to/tau2-bench [out.json]`. Imports tau2's unmodified
`src/tau2/domains/retail/{data_model,tools}.py` from that checkout, with stand-ins only for what
they import from the rest of tau2 (the toolkit base and decorator, `get_dict_hash` verbatim), so
it needs pydantic and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import sys
import types
from enum import Enum
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[2] / "src/smart_support/templates/retail_tau2/data"


def _get_dict_hash(obj: dict[str, Any]) -> str:  # tau2.utils.utils.get_dict_hash, verbatim
    hash_string = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(hash_string.encode()).hexdigest()


def _stub_tau2(checkout: Path) -> None:
    class ToolType(str, Enum):  # noqa: UP042
        READ = "read"
        WRITE = "write"
        GENERIC = "generic"
        THINK = "think"

    class ToolKitBase:
        def __init__(self, db: Any) -> None:
            self.db = db

        def use_tool(self, tool_name: str, **kwargs: Any) -> Any:
            return getattr(self, tool_name)(**kwargs)

        def get_db_hash(self) -> str:
            return _get_dict_hash(self.db.model_dump())

    def is_tool(tool_type: Any) -> Any:
        return lambda func: func

    from pydantic import BaseModel, ConfigDict

    class DB(BaseModel):
        model_config = ConfigDict(extra="forbid")

        @classmethod
        def load(cls, path: str) -> Any:
            return cls.model_validate(json.loads(Path(path).read_text()))

    modules = {
        "tau2": {},
        "tau2.domains": {},
        "tau2.domains.retail": {},
        "tau2.domains.retail.utils": {"RETAIL_DB_PATH": str(HERE / "db.json")},
        "tau2.environment": {},
        "tau2.environment.db": {"DB": DB},
        "tau2.environment.toolkit": {
            "ToolKitBase": ToolKitBase,
            "ToolType": ToolType,
            "is_tool": is_tool,
        },
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        module.__path__ = []  # type: ignore[attr-defined]
        sys.modules[name] = module
    source = checkout / "src" / "tau2" / "domains" / "retail"
    for name in ("data_model", "tools"):
        full = f"tau2.domains.retail.{name}"
        module = types.ModuleType(full)
        sys.modules[full] = module
        exec(compile((source / f"{name}.py").read_text(), full, "exec"), module.__dict__)


def main(checkout: Path, out: Path) -> None:
    _stub_tau2(checkout)
    data_model = sys.modules["tau2.domains.retail.data_model"]
    tools_module = sys.modules["tau2.domains.retail.tools"]

    def fresh() -> Any:
        return tools_module.RetailTools(data_model.RetailDB.load(str(HERE / "db.json")))

    tasks = json.loads((HERE / "tasks.json").read_text())
    result: dict[str, Any] = {"initial": fresh().get_db_hash(), "tasks": {}, "gold_errors": {}}
    for task in tasks:
        tools = fresh()
        for action in task["evaluation_criteria"]["actions"] or []:
            try:
                tools.use_tool(action["name"], **action["arguments"])
            except Exception as exc:  # tau2's evaluator logs these and goes on
                result["gold_errors"].setdefault(task["id"], []).append(f"{action['name']}: {exc}")
        result["tasks"][task["id"]] = tools.get_db_hash()
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"{out}: initial {result['initial'][:12]}..., {len(result['tasks'])} tasks")


if __name__ == "__main__":
    main(
        Path(sys.argv[1]),
        Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "reference_hashes.json",
    )
