"""The `smart-support` command: settings errors are one clear line, commands exist."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest


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
    for command in ("chat", "serve", "demo", "shop", "fetch", "agents", "import", "mcp"):
        assert command in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_listens_on_the_host_and_port_given_on_the_command_line(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "LLM_PROVIDER": "offline",
        "PORT": "1",  # the option wins over the setting
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smart_support.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = None
        for _ in range(600):  # a hang guard: start-up opens the engine
            if server.poll() is not None:
                break
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert status == 200, server.stderr.read() if server.poll() is not None else status
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_busy_port_stops_start_up_with_one_line(command, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            command,
            "--port",
            str(port),
            env={
                "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
                "SHOP_URL": "http://127.0.0.1:9",
            },
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and f"127.0.0.1:{port}" in lines[0]
    assert "in use" in lines[0] and "--port" in lines[0]
    assert "Traceback" not in result.stderr


def test_the_demo_greets_with_its_own_words_unless_welcome_message_is_set():
    from smart_support.demo.launcher import DEMO_WELCOME, demo_settings
    from smart_support.settings import Settings

    assert demo_settings(Settings(_env_file=None)).welcome_message == DEMO_WELCOME
    own = Settings(_env_file=None, welcome_message="Hello from Harbour Shoes")
    assert demo_settings(own).welcome_message == "Hello from Harbour Shoes"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LINK_DOMAINS", "https://shop.example/returns"),
        ("LINK_DOMAINS", "shop.example, evil example"),
        ("WELCOME_MESSAGE", ""),
    ],
)
def test_a_bad_link_domain_or_welcome_text_stops_start_up_with_one_line(name, value):
    result = run("serve", env={name: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], result.stderr


def test_link_domains_are_read_as_a_lowercase_comma_separated_list():
    from smart_support.settings import Settings

    settings = Settings(_env_file=None, link_domains=" Shop.Example , help.shop.example. ")
    assert settings.link_domains == ["shop.example", "help.shop.example"]
