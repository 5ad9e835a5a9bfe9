"""Templates: `smart-support init --list`, `init --template NAME DIR`, `smart-support api NAME`,
and the projects they make working with the offline model: the real CLI, real processes, HTTP
on loopback, and each eval set's tasks run through the real engine."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from click.testing import CliRunner

from smart_support.cli import main
from smart_support.identity import Identity
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import AgentSelected, ApprovalRequested, ReplyEnd, TurnError
from smart_support.settings import Settings
from smart_support.templates import TemplateError, get_template, init, list_templates
from smart_support.templates.knowledge import knowledge_base_for
from smart_support.templates.registry import read_template

WITH_EVALS = ["ecommerce", "saas"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """`smart-support ARGS` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "smart_support.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **env},
    )


@contextmanager
def api_process(name: str, port: int) -> Iterator[str]:
    """`smart-support api NAME --port PORT` until the block ends; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "smart_support.cli", "api", name, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{name}'s API did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


class _QuietServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test runner owns signals
        pass


@contextmanager
def api_thread(name: str) -> Iterator[int]:
    """A fresh copy of the template's API in a thread on a free port; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    api = get_template(name).api
    config = uvicorn.Config(
        api.app, factory=api.factory, log_level="warning", lifespan="off", loop="asyncio"
    )
    server = _QuietServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), f"{name}'s API did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def eval_set(name: str) -> dict[str, Any]:
    template = get_template(name)
    assert template.eval is not None
    data: dict[str, Any] = yaml.safe_load((template.directory / template.eval).read_text())
    return data


def project_settings(project: Path, port: int, tmp_path: Path) -> Settings:
    return Settings(
        llm_provider="offline",
        agents_file=project / "agents.yaml",
        database_url=f"sqlite:///{tmp_path / 'support.db'}",
        egress_allowlist=[f"127.0.0.1:{port}"],
        shop_url=f"http://127.0.0.1:{port}",
    )


def subset(wanted: Any, got: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(got, dict) and all(
            k in got and subset(v, got[k]) for k, v in wanted.items()
        )
    return bool(wanted == got)


async def run_task(engine: Engine, task: dict[str, Any]) -> str:
    """The scripted customer's lines through the engine ("yes"/"no" answer an approval);
    returns the replies and approval summaries."""
    claims = task.get("identity")
    identity = Identity(method="signed", **claims) if claims else None
    conversation, _ = await engine.start_conversation(identity)
    pending: str | None = None
    said: list[str] = []
    for line in task["customer"]:
        if pending is not None and line.lower() in ("yes", "no"):
            events = engine.decide(pending, line.lower() == "yes", "customer", conversation)
            pending = None
        else:
            events = engine.send(conversation, line)
        async for event in events:
            if isinstance(event, ApprovalRequested):
                pending = event.approval_id
                said.append(f"[approval: {event.summary}]")
            elif isinstance(event, ReplyEnd):
                said.append(event.text)
            elif isinstance(event, TurnError):
                said.append(f"[error {event.code}]")
    return "\n".join(said)


# -- listing and scaffolding -----------------------------------------------------------------


def test_init_list_lists_ecommerce_and_saas_and_retail_tau2_when_present() -> None:
    result = CliRunner().invoke(main, ["init", "--list"])
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.output.splitlines() if not line.startswith(" ")]
    assert {"ecommerce", "saas"} <= set(names)
    assert set(names) == {t.name for t in list_templates()}  # retail-tau2 too, once it ships
    assert "Subscription software (Pulseboard)" in result.output


def test_init_template_saas_writes_every_file_of_the_project(tmp_path: Path) -> None:
    project = tmp_path / "pulseboard"
    done = cli("init", "--template", "saas", str(project))
    assert done.returncode == 0, done.stderr
    written = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert written == [
        ".env.example",
        "README.md",
        "agents.yaml",
        "eval.yaml",
        "kb/passwords-and-sign-in.md",
        "kb/plans-and-pricing.md",
        "kb/refunds.md",
        "kb/seats-and-usage.md",
        "openapi.json",
    ]
    env = (project / ".env.example").read_text()
    for line in (
        "LLM_PROVIDER=offline",
        "AGENTS_FILE=agents.yaml",
        "DATABASE_URL=sqlite:///./data/support.db",
        "EGRESS_ALLOWLIST=127.0.0.1:8003",
    ):
        assert line in env.splitlines()
    readme = (project / "README.md").read_text()
    assert "{{" not in readme and f"cd {project}" in readme
    assert "smart-support api saas --port 8003" in readme
    assert f"wrote 9 files to {project}" in done.stdout


def test_init_refuses_a_non_empty_directory_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    refused = cli("init", "--template", "saas", str(tmp_path))
    assert refused.returncode == 2
    assert f"error: {tmp_path} is not empty" in refused.stderr
    assert not (tmp_path / "agents.yaml").exists()
    forced = cli("init", "--template", "saas", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "agents.yaml").is_file() and (tmp_path / "notes.txt").read_text() == "mine"


def test_an_unknown_template_is_one_line_naming_the_templates(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", "--template", "bakery", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "error: there is no template 'bakery' (there are: ecommerce, " in result.output
    assert not (tmp_path / "x").exists()


def test_init_with_another_port_points_every_file_at_it(tmp_path: Path) -> None:
    project = init("saas", tmp_path / "p", port=9123).directory
    agents = yaml.safe_load((project / "agents.yaml").read_text())
    assert agents["openapi"]["pulseboard"]["server"] == "http://127.0.0.1:9123"
    assert "EGRESS_ALLOWLIST=127.0.0.1:9123" in (project / ".env.example").read_text()
    shop = init("ecommerce", tmp_path / "shop", port=9124).directory
    assert "SHOP_URL=http://127.0.0.1:9124" in (shop / ".env.example").read_text()
    assert "smart-support api ecommerce --port 9124" in (shop / "README.md").read_text()


def test_a_broken_template_yaml_names_the_file_and_the_field(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(
        "name: Bad Name\ntitle: t\ndescription: d\napi: {app: 'x:y', port: 1}\n"
    )
    with pytest.raises(TemplateError, match=r"template.yaml: name: .*'Bad Name'"):
        read_template(tmp_path)
    (tmp_path / "template.yaml").write_text(
        "name: ok\ntitle: t\ndescription: d\napi: {app: 'no-colon', port: 1}\n"
    )
    with pytest.raises(TemplateError, match=r"api.app: .*python.module:attr"):
        read_template(tmp_path)


# -- each template works ---------------------------------------------------------------------


@pytest.mark.parametrize("name", [t.name for t in list_templates()])
def test_each_templates_agents_validate(name: str, tmp_path: Path) -> None:
    template = get_template(name)
    project = init(name, tmp_path / "project").directory
    done = cli(
        "agents",
        "validate",
        "agents.yaml",
        cwd=project,
        EGRESS_ALLOWLIST=f"127.0.0.1:{template.api.port}",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok: ")


@pytest.mark.parametrize("name", [t.name for t in list_templates()])
def test_each_templates_api_starts_with_smart_support_api_and_answers_its_openapi_document(
    name: str,
) -> None:
    with api_process(name, free_port()) as url:
        document = httpx.get(f"{url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.") and document["paths"]


def test_the_scaffolded_saas_projects_chat_works_with_the_offline_model(tmp_path: Path) -> None:
    port = free_port()
    project = tmp_path / "pulseboard"
    assert cli("init", "--template", "saas", str(project), "--port", str(port)).returncode == 0
    shutil.copyfile(project / ".env.example", project / ".env")
    lines = [
        "What is the status of account ACC-1001?",
        "priya@northwind.example, account ACC-1001",
        "Please refund invoice INV-5001, we were charged by mistake",
        "yes",
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("AGENTS_FILE", "DATABASE_URL")}
    with api_process("saas", port) as url:
        before = httpx.get(f"{url}/invoices/INV-5001", timeout=5).json()
        chat = subprocess.run(
            [sys.executable, "-m", "smart_support.cli", "chat"],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            timeout=120,
            cwd=project,
            env=env,
        )
        after = httpx.get(f"{url}/invoices/INV-5001", timeout=5).json()
    assert chat.returncode == 0, chat.stderr[-3000:]
    out = chat.stdout
    assert "model: offline model" in out and "(verified: Priya Natarajan)" in out
    read = out.split(lines[1], 1)[1].split(lines[2], 1)[0]
    assert "Northwind Labs (team, active)" in read
    assert "APPROVAL NEEDED: Refund invoice INV-5001 (we were charged by mistake)" in out
    assert "approval approved" in out
    assert (before["status"], after["status"]) == ("paid", "refunded")
    assert "Invoice INV-5001 is refunded" in out.split("approval approved", 1)[1]
    assert (project / "data" / "support.db").is_file()


def test_a_projects_help_center_answers_from_its_own_kb_folder(tmp_path: Path) -> None:
    project = init("saas", tmp_path / "p").directory
    before = knowledge_base_for(project / "agents.yaml").search("refund window")
    assert before and before[0][1].source == "refunds.md"
    (project / "kb" / "refunds.md").write_text("# Refunds\n\n## Refund window\n\nNinety days.\n")
    after = knowledge_base_for(project / "agents.yaml").search("refund window")
    assert after[0][1].text == "Ninety days."


# -- the eval sets -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", WITH_EVALS)
def test_each_eval_set_has_15_to_30_routing_lines_and_4_to_8_tasks(name: str) -> None:
    data = eval_set(name)
    agents = {
        a["name"]
        for a in yaml.safe_load((get_template(name).directory / "agents.yaml").read_text())[
            "agents"
        ]
    }
    assert 15 <= len(data["routing"]) <= 30 and 4 <= len(data["tasks"]) <= 8
    assert {line["agent"] for line in data["routing"]} <= agents
    assert len({task["id"] for task in data["tasks"]}) == len(data["tasks"])


@pytest.mark.parametrize("name", WITH_EVALS)
async def test_every_routing_line_of_the_eval_set_reaches_its_agent_offline(
    name: str, tmp_path: Path
) -> None:
    with api_thread(name) as port:
        project = init(name, tmp_path / "p", port=port).directory
        async with Engine.open(project_settings(project, port, tmp_path)) as engine:
            missed = []
            for line in eval_set(name)["routing"]:
                conversation, _ = await engine.start_conversation()
                chosen = None
                async for event in engine.send(conversation, line["text"]):
                    if isinstance(event, AgentSelected) and chosen is None:
                        chosen = event.agent
                if chosen != line["agent"]:
                    missed.append((line["text"], chosen, line["agent"]))
    assert missed == []


@pytest.mark.parametrize(
    ("name", "task_id"),
    [
        (name, task["id"])
        for name in WITH_EVALS
        for task in eval_set(name)["tasks"]
        if task.get("offline", True)
    ],
)
async def test_each_offline_task_of_the_eval_set_passes_through_the_engine(
    name: str, task_id: str, tmp_path: Path
) -> None:
    task = next(t for t in eval_set(name)["tasks"] if t["id"] == task_id)
    with api_thread(name) as port:
        project = init(name, tmp_path / "p", port=port).directory
        async with Engine.open(project_settings(project, port, tmp_path)) as engine:
            said = await run_task(engine, task)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api:
            for expected in task["expect"]:
                state = (await api.get(expected["get"])).json()
                assert subset(expected["json"], state), (expected, state, said)
    for text in task.get("reply_contains", []):
        assert text.lower() in said.lower(), said
