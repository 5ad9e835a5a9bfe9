"""`smart-support import SOURCE --accept --out FILE`: a business starts with its own API.

The real CLI imports the running demo shop's own OpenAPI document, writes a complete agents.yaml,
and the terminal chat on that file (offline model) answers from the imported tools: the status of
order 1042, and "cancel order 1042" -> an approval -> the shop shows it cancelled and received the
ledger's idempotency key.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

from chat_process import run_chat
from smart_support.settings import Settings
from smart_support.store import Action, open_persistence


def smart_support(
    *args: str, shop_url: str, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "EGRESS_ALLOWLIST": f"127.0.0.1:{urlsplit(shop_url).port}",
        "LLM_PROVIDER": "offline",
    }
    env.pop("AGENTS_FILE", None)
    return subprocess.run(
        [sys.executable, "-m", "smart_support.cli", *args],
        input=stdin if stdin is not None else "",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def imported(shop_url: str, tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "agents.yaml"
    done = smart_support(
        "import",
        f"{shop_url}/openapi.json",
        "--accept",
        "--out",
        str(out),
        *extra,
        shop_url=shop_url,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return out


def ledger(tmp_path: Path) -> list[Action]:
    async def read() -> list[Action]:
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'chat.db'}")
        async with open_persistence(settings) as persistence:
            return await persistence.store.list_actions()

    return asyncio.run(read())


def test_import_with_accept_writes_classified_agents_that_validate_as_they_are(
    running_shop: str, tmp_path: Path
) -> None:
    out = imported(running_shop, tmp_path)
    text = out.read_text()
    data = yaml.safe_load(text)
    assert data["openapi"] == {"demo_shop": {"source": f"{running_shop}/openapi.json"}}
    agents = {a["name"]: a for a in data["agents"]}
    assert agents["help"]["role"] == "fallback" and data["agents"][-1]["name"] == "help"
    entries = {t["tool"]: t for a in data["agents"] for t in a.get("tools", [])}
    assert entries["get_order"]["access"] == "read"
    assert entries["cancel_order"] == {
        "openapi": "demo_shop",
        "tool": "cancel_order",
        "access": "write",
        "summary": "Cancel order {order_id}",
        "check": {"tool": "get_order"},
    }
    assert "health" not in entries  # a health check is no support tool
    assert "#   health: " in text  # ... and the file says it was left out, and why
    for agent in data["agents"][:-1]:
        assert 5 <= len(agent["examples"]) <= 10 and len(agent["tools"]) <= 15
    checked = smart_support("agents", "validate", str(out), shop_url=running_shop, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_chat_on_the_generated_file_answers_the_status_of_1042_from_the_imported_tool(
    running_shop: str, tmp_path: Path
) -> None:
    out = imported(running_shop, tmp_path)
    said = run_chat(["What's the status of order 1042?"], running_shop, tmp_path, agents_file=out)
    assert "Order 1042 is processing" in said
    assert "Customer 1" not in said


def test_cancel_order_1042_waits_for_approval_and_the_shop_receives_the_ledgers_key(
    running_shop: str, tmp_path: Path
) -> None:
    out = imported(running_shop, tmp_path)
    said = run_chat(
        ["Please cancel order 1042, I ordered the wrong size.", "yes"],
        running_shop,
        tmp_path,
        agents_file=out,
    )
    assert "APPROVAL NEEDED" in said
    assert "cancelled" in said.split("APPROVAL NEEDED", 1)[1]
    order = httpx.get(f"{running_shop}/orders/1042").json()
    assert order["status"] == "cancelled"
    (action,) = ledger(tmp_path)
    assert action.tool == "cancel_order" and action.status == "succeeded"
    # The shop remembers the key it was sent: the same request with it replays, changes nothing.
    again = httpx.post(
        f"{running_shop}/orders/1042/cancel",
        json={"reason": action.args.get("reason")},
        headers={"Idempotency-Key": action.idempotency_key},
    )
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_a_rejected_cancel_leaves_the_order_as_it_was(running_shop: str, tmp_path: Path) -> None:
    out = imported(running_shop, tmp_path)
    said = run_chat(["Please cancel order 1042.", "no"], running_shop, tmp_path, agents_file=out)
    assert "APPROVAL NEEDED" in said
    assert httpx.get(f"{running_shop}/orders/1042").json()["status"] == "processing"


def test_out_without_accept_and_without_a_terminal_writes_nothing(
    running_shop: str, tmp_path: Path
) -> None:
    out = tmp_path / "agents.yaml"
    done = smart_support(
        "import",
        f"{running_shop}/openapi.json",
        "--out",
        str(out),
        shop_url=running_shop,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "--accept" in done.stderr
    assert not out.exists()


def test_a_bad_name_is_refused_before_anything_is_fetched_or_written(
    running_shop: str, tmp_path: Path
) -> None:
    out = tmp_path / "agents.yaml"
    done = smart_support(
        "import",
        f"{running_shop}/openapi.json",
        "--name",
        "Shop API",
        "--accept",
        "--out",
        str(out),
        shop_url=running_shop,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "cannot name an import" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_a_spec_from_stdin_is_kept_beside_the_file_and_chats_with_a_server_url(
    running_shop: str, tmp_path: Path
) -> None:
    spec = httpx.get(f"{running_shop}/openapi.json").text
    out = tmp_path / "project" / "agents.yaml"
    done = smart_support(
        "import",
        "-",
        "--name",
        "shop",
        "--server",
        running_shop,
        "--accept",
        "--out",
        str(out),
        shop_url=running_shop,
        cwd=tmp_path,
        stdin=spec,
    )
    assert done.returncode == 0, done.stderr
    data = yaml.safe_load(out.read_text())
    assert data["openapi"]["shop"] == {"source": "shop.openapi.json", "server": running_shop}
    assert json.loads((out.parent / "shop.openapi.json").read_text()) == json.loads(spec)
    said = run_chat(["What's the status of order 1042?"], running_shop, tmp_path, agents_file=out)
    assert "Order 1042 is processing" in said


def test_json_with_out_prints_only_the_report_on_stdout(running_shop: str, tmp_path: Path) -> None:
    out = tmp_path / "agents.yaml"
    done = smart_support(
        "import",
        f"{running_shop}/openapi.json",
        "--json",
        "--accept",
        "--out",
        str(out),
        shop_url=running_shop,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {op["name"] for op in report["operations"]} >= {"get_order", "cancel_order"}
    classified = {op["name"]: op for op in report["proposal"]["operations"]}
    assert classified["cancel_order"]["access"]["value"] == "write"
    assert classified["health"]["agent"] is None
    operations = {op["name"]: op for op in report["operations"]}
    cancel, health = operations["cancel_order"], operations["health"]
    assert (cancel["access"], cancel["agent"], cancel["enabled"]) == ("write", "order", True)
    assert cancel["decisions"]["access"]["source"] == "rule"
    assert "cancel" in cancel["decisions"]["access"]["reason"]
    assert (health["agent"], health["enabled"], health["relevance"]) == (None, False, "off")
    roles = {p["name"]: p["role"] for p in cancel["parameters"]}
    assert roles["order_id"] == "customer" and roles["X-Customer-Id"] == "identity"
    assert f"wrote {out}" in done.stderr


CORPUS = Path(__file__).parent / "data" / "openapi"


def test_a_long_import_shows_a_progress_bar_on_a_terminal_and_none_in_a_pipe(
    tmp_path: Path,
) -> None:
    spec = str(CORPUS / "twilio-conversations-v1-1.0.0.json")
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "smart_support.cli", "import", spec],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            timeout=120,
            cwd=tmp_path,
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end is closed: everything was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert done.returncode == 0
    text = shown.decode(errors="replace")
    for stage in ("validating", "reading operations", "making tools", "100%"):
        assert stage in text
    piped = subprocess.run(
        [sys.executable, "-m", "smart_support.cli", "import", spec],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert piped.returncode == 0 and "%" not in piped.stderr
    assert piped.stdout.startswith(spec)


def test_the_written_file_says_which_credentials_the_api_asks_for(tmp_path: Path) -> None:
    # Adyen's disputes API (the API-key spec this used) is all back office: nothing to write.
    spec = CORPUS / "swagger-petstore-1.0.27-SNAPSHOT.yaml"
    out = tmp_path / "petstore.yaml"
    command = ["import", str(spec), "--accept", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "smart_support.cli", *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "#     auth: {type: api_key, in: header, name: api_key, value_env: ...}" in text
    source = yaml.safe_load(text)["openapi"]["swagger_petstore_openapi_3_0"]["source"]
    assert (out.parent / source).resolve() == spec.resolve()
