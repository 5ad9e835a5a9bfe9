"""The review file: `import SOURCE --name NAME` writes NAME.import.yaml, a person edits it,
`import review NAME` shows the changes and `import accept NAME --out FILE` writes the agents.

Through the real CLI as a process, against the demo shop's own spec (from the running shop, or
as a file that the test changes to play a new version of the API).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from smart_support.demo.shop import create_app


def cli(*args: str, cwd: Path, shop_url: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLM_PROVIDER": "offline"}
    if shop_url:
        env["EGRESS_ALLOWLIST"] = f"127.0.0.1:{urlsplit(shop_url).port}"
    env.pop("AGENTS_FILE", None)
    return subprocess.run(
        [sys.executable, "-m", "smart_support.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def shop_spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(create_app().openapi()))
    return path


def test_an_import_with_a_name_writes_a_review_file_that_reviews_clean(
    running_shop: str, tmp_path: Path
) -> None:
    done = cli(
        "import",
        f"{running_shop}/openapi.json",
        "--name",
        "shop",
        cwd=tmp_path,
        shop_url=running_shop,
    )
    assert done.returncode == 0, done.stderr
    review = yaml.safe_load((tmp_path / "shop.import.yaml").read_text())
    assert review["import"] == {
        "name": "shop",
        "source": f"{running_shop}/openapi.json",
        "server": None,
    }
    assert review["operations"]["cancel_order"]["access"] == "write"
    assert review["operations"]["health"]["relevance"] == "off"
    assert "cancel" in review["operations"]["cancel_order"]["why"]
    checked = cli("import", "review", "shop", cwd=tmp_path, shop_url=running_shop)
    assert checked.returncode == 0, checked.stderr
    assert "no changes to the rules' proposal" in checked.stdout


def test_a_write_marked_read_is_refused_until_confirmed_and_then_warned_about(
    running_shop: str, tmp_path: Path
) -> None:
    cli(
        "import",
        f"{running_shop}/openapi.json",
        "--name",
        "shop",
        cwd=tmp_path,
        shop_url=running_shop,
    )
    review = tmp_path / "shop.import.yaml"
    edit(review, lambda d: d["operations"]["cancel_order"].update(access="read"))
    out = tmp_path / "agents.yaml"

    refused = cli(
        "import", "accept", "shop", "--out", str(out), cwd=tmp_path, shop_url=running_shop
    )
    assert refused.returncode == 2
    assert "cancel_order: marked read" in refused.stdout and "confirm_read" in refused.stdout
    assert not out.exists()

    edit(review, lambda d: d["operations"]["cancel_order"].update(confirm_read=True))
    accepted = cli(
        "import", "accept", "shop", "--out", str(out), cwd=tmp_path, shop_url=running_shop
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "a write-looking operation marked read runs without approval" in accepted.stdout
    entries = {
        t["tool"]: t for a in yaml.safe_load(out.read_text())["agents"] for t in a.get("tools", [])
    }
    assert entries["cancel_order"]["access"] == "read"


def test_moving_an_operation_and_turning_one_on_reach_the_written_agents(
    running_shop: str, tmp_path: Path
) -> None:
    cli(
        "import",
        f"{running_shop}/openapi.json",
        "--name",
        "shop",
        cwd=tmp_path,
        shop_url=running_shop,
    )

    def change(data: dict[str, Any]) -> None:
        data["operations"]["get_product"]["agent"] = "order"
        data["operations"]["health"].update(relevance="on", agent="product")
        data["operations"]["start_return"]["summary"] = "Return order {order_id}"

    edit(tmp_path / "shop.import.yaml", change)
    out = tmp_path / "agents.yaml"
    done = cli("import", "accept", "shop", "--out", str(out), cwd=tmp_path, shop_url=running_shop)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "get_product: agent product -> order" in done.stdout
    agents = {a["name"]: a for a in yaml.safe_load(out.read_text())["agents"]}
    assert "get_product" in {t["tool"] for t in agents["order"]["tools"]}
    assert "health" in {t["tool"] for t in agents["product"]["tools"]}
    returns = next(t for t in agents["order"]["tools"] if t["tool"] == "start_return")
    assert returns["summary"] == "Return order {order_id}"
    checked = cli("agents", "validate", str(out), cwd=tmp_path, shop_url=running_shop)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_changed_spec_lists_new_and_gone_operations_and_keeps_the_earlier_decisions(
    tmp_path: Path,
) -> None:
    spec_file = shop_spec_file(tmp_path)
    assert cli("import", str(spec_file), "--name", "shop", cwd=tmp_path).returncode == 0
    edit(
        tmp_path / "shop.import.yaml",
        lambda d: d["operations"]["health"].update(relevance="on", agent="product"),
    )
    spec = json.loads(spec_file.read_text())
    del spec["paths"]["/products/{product_id}"]
    spec["paths"]["/orders/{order_id}/notes"] = {
        "get": {
            "operationId": "list_order_notes",
            "summary": "Notes on an order",
            "parameters": [
                {"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "responses": {"200": {"description": "ok"}},
        }
    }
    spec_file.write_text(json.dumps(spec))

    done = cli("import", "review", "shop", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    new = done.stdout.split("New in the spec", 1)[1].split("\n\n", 1)[0]
    gone = done.stdout.split("Gone from the spec", 1)[1].split("\n\n", 1)[0]
    assert "list_order_notes" in new and "get_product" in gone
    assert "health: relevance off -> on" in done.stdout


def test_a_broken_review_file_is_a_clear_error_naming_the_field(tmp_path: Path) -> None:
    spec_file = shop_spec_file(tmp_path)
    cli("import", str(spec_file), "--name", "shop", cwd=tmp_path)
    review = tmp_path / "shop.import.yaml"
    edit(review, lambda d: d["operations"]["get_order"].update(access="maybe"))
    bad_value = cli("import", "review", "shop", cwd=tmp_path)
    assert bad_value.returncode == 2
    assert "operations.get_order.access" in bad_value.stderr
    assert "Traceback" not in bad_value.stderr

    review.write_text("import: [unclosed\n")
    not_yaml = cli("import", "review", "shop", cwd=tmp_path)
    assert not_yaml.returncode == 2 and "not valid YAML" in not_yaml.stderr

    missing = cli("import", "review", "nothing_here", cwd=tmp_path)
    assert missing.returncode == 2 and "cannot read the review file" in missing.stderr


def test_an_unknown_parameter_or_agent_is_a_problem_not_a_silent_change(tmp_path: Path) -> None:
    spec_file = shop_spec_file(tmp_path)
    cli("import", str(spec_file), "--name", "shop", cwd=tmp_path)

    def change(data: dict[str, Any]) -> None:
        data["operations"]["get_order"]["parameters"]["tenant"] = "config"
        data["operations"]["get_product"]["agent"] = "nowhere"

    edit(tmp_path / "shop.import.yaml", change)
    done = cli("import", "review", "shop", cwd=tmp_path)
    assert done.returncode == 2
    assert "get_order: no parameter 'tenant'" in done.stdout
    assert "get_product: agent 'nowhere' is not listed under agents:" in done.stdout
