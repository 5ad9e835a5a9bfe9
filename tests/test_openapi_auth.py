"""An import's credentials reach the API exactly and nowhere else.

A loopback server (on the test's event loop, so the network guard sees its connections) records
every request, issues OAuth2 tokens, and answers 401 with every header and the query echoed back,
as careless APIs do. Each test checks what the server received and that no secret appears in a
tool result, an exception, a log record, the tool's description or schema, or the import report.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import uvicorn
from langchain_core.messages import BaseMessage, ToolMessage
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from smart_support.errors import ConfigError, ToolError
from smart_support.openapi import ImportResult
from smart_support.openapi.importer import import_configured
from smart_support.registry import load_registry
from smart_support.registry.schema import OpenApiSpec
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import ReplyEnd
from smart_support.settings import Settings
from smart_support.testing import ScriptedChatModel, call
from smart_support.tools import ToolContext, open_toolkit, tool_context

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Shop", "version": "1"},
    "components": {
        "securitySchemes": {
            "key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "oauth": {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {"tokenUrl": "https://auth.example.com/t", "scopes": {}}
                },
            },
        }
    },
    "security": [{"key": []}],
    "paths": {
        "/orders/{order_id}": {
            "get": {
                "operationId": "get_order",
                "tags": ["orders"],
                "parameters": [
                    {"name": "order_id", "in": "path", "required": True},
                    {"name": "X-API-Key", "in": "header", "schema": {"type": "string"}},
                    {"name": "api_key", "in": "query", "schema": {"type": "string"}},
                    {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/moved": {
            "get": {
                "operationId": "moved",
                "security": [],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/products": {
            "get": {
                "operationId": "list_products",
                "tags": ["catalog"],
                "security": [],
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: str


@dataclass
class Api:
    """The loopback API: what it received, and how it behaves."""

    url: str
    hostport: str
    requests: list[Seen] = field(default_factory=list)
    #: The exact request headers/query a call must carry to get a 200 (else 401 with an echo).
    accept: dict[str, str] = field(default_factory=dict)
    accept_query: tuple[str, str] | None = None
    tokens: list[str] = field(default_factory=list)
    expires_in: int = 3600
    #: Tokens the API answers 401 to (as if revoked).
    revoked: set[str] = field(default_factory=set)
    token_status: int = 200
    #: path -> URL answered with a 302.
    redirects: dict[str, str] = field(default_factory=dict)

    def calls(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith(path)]


@asynccontextmanager
async def serve_api() -> AsyncIterator[Api]:
    """A recording API on a free loopback port, on the running event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    state = Api(url=f"http://127.0.0.1:{port}", hostport=f"127.0.0.1:{port}")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = (await request.body()).decode()
        seen = Seen(
            request.method,
            scope["path"],
            parse_qsl(scope["query_string"].decode(), keep_blank_values=True),
            {k.lower(): v for k, v in request.headers.items()},
            body,
        )
        state.requests.append(seen)
        if seen.path in state.redirects:
            response = Response(status_code=302, headers={"location": state.redirects[seen.path]})
        elif seen.path == "/token":
            if state.token_status != 200:
                echoed = {"error": "invalid_client", "error_description": f"bad: {body}"}
                response = JSONResponse(echoed, status_code=state.token_status)
            else:
                token = f"tok{len(state.tokens)}_{secrets.token_hex(12)}"
                state.tokens.append(token)
                response = JSONResponse(
                    {"access_token": token, "token_type": "Bearer", "expires_in": state.expires_in}
                )
        else:
            authorised = all(seen.headers.get(k) == v for k, v in state.accept.items())
            if state.accept_query is not None:
                authorised = authorised and state.accept_query in seen.query
            bearer = seen.headers.get("authorization", "").removeprefix("Bearer ")
            if authorised and bearer not in state.revoked:
                echo = {"headers": seen.headers, "query": seen.query}
                response = JSONResponse({"id": 7, "status": "shipped", "echo": echo})
            else:
                detail = f"bad credentials: {seen.headers.get('authorization')}"
                echo = {"detail": detail, "headers": seen.headers, "query": seen.query}
                response = JSONResponse(echo, status_code=401)
        await response(scope, receive, send)

    config = uvicorn.Config(app, log_level="warning", lifespan="off", loop="asyncio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers only this flag
        await asyncio.sleep(0.005)
    try:
        yield state
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with serve_api() as state:
        yield state


def secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def settings_for(api: Api, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        egress_allowlist=[api.hostport],
        llm_provider="offline",
        **extra,
    )


async def imported(tmp_path: Path, api: Api, auth: dict[str, Any] | None) -> ImportResult:
    (tmp_path / "shop.json").write_text(json.dumps(SPEC))
    spec = OpenApiSpec.model_validate(
        {"source": "shop.json", "server": api.url + "/base", "auth": auth}
    )
    return await import_configured(spec, settings_for(api), base_dir=tmp_path)


async def run(result: ImportResult, api: Api, name: str = "get_order", **arguments: Any) -> Any:
    tool = next(op.tool for op in result.operations if op.name == name)
    with tool_context(ToolContext(settings_for(api))):
        return await tool.ainvoke(arguments or {"order_id": 7})


def assert_absent(values: list[str], *places: Any) -> None:
    """No secret, nor its percent or base64 encodings, in anything we show."""
    text = "\n".join(p if isinstance(p, str) else json.dumps(p, default=repr) for p in places)
    for value in values:
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text


def tool_surface(result: ImportResult) -> list[Any]:
    """What a model or an operator sees of the import: descriptions, schemas, the report."""
    return [
        result.report(),
        [(t.name, t.description, t.args_schema, repr(t)) for t in result.tools],
        repr(result),
    ]


@pytest.mark.parametrize(
    ("where", "name"), [("header", "X-API-Key"), ("query", "api_key"), ("cookie", "session")]
)
async def test_an_api_key_reaches_the_api_in_its_place_and_the_model_never_sees_it(
    tmp_path: Path,
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    where: str,
    name: str,
) -> None:
    key = secret("sk_live")
    monkeypatch.setenv("SHOP_KEY", key)
    if where == "header":
        api.accept = {"x-api-key": key}
    elif where == "query":
        api.accept_query = ("api_key", key)
    else:
        api.accept = {"cookie": f"session={key}"}
    caplog.set_level(logging.DEBUG)
    auth = {"type": "api_key", "in": where, "name": name, "value_env": "SHOP_KEY"}

    result = await imported(tmp_path, api, auth)
    ok = await run(result, api)

    assert ok["status"] == "shipped"
    [sent] = api.calls("/base/orders/7")
    if where == "query":
        assert sent.query == [("api_key", key)]
    else:
        header = "cookie" if where == "cookie" else name.lower()
        assert sent.headers[header] == (key if where == "header" else f"session={key}")
    schema = next(op.input_schema for op in result.operations if op.name == "get_order")
    assert name not in schema["properties"], "the model cannot set the key"
    assert "[redacted]" in json.dumps(ok), "the echo of the key was scrubbed"
    assert_absent([key], ok, caplog.text, *tool_surface(result))


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
async def test_bearer_and_basic_credentials_reach_the_api_exactly_and_a_401_echo_is_scrubbed(
    tmp_path: Path,
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    scheme: str,
) -> None:
    token, user, password = secret("tok"), "shop-bot", secret("pw")
    monkeypatch.setenv("SHOP_TOKEN", token)
    monkeypatch.setenv("SHOP_USER", user)
    monkeypatch.setenv("SHOP_PASSWORD", password)
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    expected = f"Bearer {token}" if scheme == "bearer" else f"Basic {basic}"
    api.accept = {"authorization": "something else"}  # every call is refused, with an echo
    caplog.set_level(logging.DEBUG)
    auth: dict[str, Any] = (
        {"type": "bearer", "token_env": "SHOP_TOKEN"}
        if scheme == "bearer"
        else {"type": "basic", "username_env": "SHOP_USER", "password_env": "SHOP_PASSWORD"}
    )

    result = await imported(tmp_path, api, auth)
    refused = await run(result, api)

    [sent] = api.calls("/base/orders/7")  # a static credential is not sent twice
    assert sent.headers["authorization"] == expected
    assert refused["ok"] is False and refused["status"] == 401
    assert refused["error"]["detail"] == f"bad credentials: {scheme.title()} [redacted]"
    assert_absent([token, password, basic], refused, caplog.text, *tool_surface(result))


async def oauth_import(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch, client_secret: str, **extra: Any
) -> ImportResult:
    monkeypatch.setenv("SHOP_CLIENT_ID", "support-bot")
    monkeypatch.setenv("SHOP_CLIENT_SECRET", client_secret)
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": api.url + "/token",
        "client_id_env": "SHOP_CLIENT_ID",
        "client_secret_env": "SHOP_CLIENT_SECRET",
        "scopes": ["orders:read", "orders:write"],
        "audience": "https://api.shop.test",
        **extra,
    }
    return await imported(tmp_path, api, auth)


async def test_oauth2_fetches_one_token_through_the_guard_for_concurrent_calls_and_hides_it(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client_secret = secret("cs")
    caplog.set_level(logging.DEBUG)
    result = await oauth_import(tmp_path, api, monkeypatch, client_secret)

    first, second = await asyncio.gather(run(result, api), run(result, api))

    [fetch] = api.calls("/token")
    assert fetch.method == "POST"
    assert dict(parse_qsl(fetch.body)) == {
        "grant_type": "client_credentials",
        "scope": "orders:read orders:write",
        "audience": "https://api.shop.test",
    }
    client = base64.b64encode(f"support-bot:{client_secret}".encode()).decode()
    assert fetch.headers["authorization"] == f"Basic {client}"
    [token] = api.tokens
    calls = api.calls("/base/orders/7")
    assert [c.headers["authorization"] for c in calls] == [f"Bearer {token}"] * 2
    assert first["status"] == second["status"] == "shipped"
    assert_absent([client_secret, token], first, second, caplog.text, *tool_surface(result))


async def test_an_expired_token_is_fetched_again_and_the_client_can_post_its_secret(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_secret = secret("cs")
    api.expires_in = 120
    result = await oauth_import(tmp_path, api, monkeypatch, client_secret, client_auth="post")
    assert result.credentials is not None
    now = [1000.0]
    result.credentials.clock = lambda: now[0]  # type: ignore[attr-defined]

    await run(result, api)
    now[0] += 60  # still valid
    await run(result, api)
    now[0] += 55  # within the margin before expiry
    third = await run(result, api)

    assert len(api.calls("/token")) == 2
    form = dict(parse_qsl(api.calls("/token")[0].body))
    assert form["client_id"] == "support-bot" and form["client_secret"] == client_secret
    sent = [c.headers["authorization"] for c in api.calls("/base/orders/7")]
    assert sent == [f"Bearer {api.tokens[0]}"] * 2 + [f"Bearer {api.tokens[1]}"]
    assert_absent([client_secret, *api.tokens], third)


async def test_a_401_fetches_a_new_token_once_and_sends_the_call_again(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await oauth_import(tmp_path, api, monkeypatch, secret("cs"))
    await run(result, api)
    api.revoked.add(api.tokens[0])

    renewed = await run(result, api)
    api.revoked = EveryToken()
    refused = await run(result, api)

    assert renewed["status"] == "shipped"
    assert len(api.calls("/token")) == 3, "one per 401, never a loop"
    assert len(api.calls("/base/orders/7")) == 1 + 2 + 2
    assert refused["status"] == 401
    assert_absent(api.tokens, renewed, refused)


class EveryToken(set[str]):
    """Revokes every token, including those not issued yet."""

    def __contains__(self, item: object) -> bool:
        return True


async def test_a_failed_token_fetch_is_a_tool_error_without_the_secret(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client_secret = secret("cs")
    api.token_status = 401
    caplog.set_level(logging.DEBUG)
    result = await oauth_import(tmp_path, api, monkeypatch, client_secret, client_auth="post")

    with pytest.raises(ToolError) as err:
        await run(result, api)

    assert "answered 401 (invalid_client)" in str(err.value)
    assert not api.calls("/base"), "no call without a token"
    assert_absent([client_secret], str(err.value), repr(err.value), caplog.text)


async def test_a_token_url_the_egress_guard_refuses_is_never_contacted(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        port = other.getsockname()[1]
    monkeypatch.setenv("SHOP_CLIENT_ID", "support-bot")
    monkeypatch.setenv("SHOP_CLIENT_SECRET", "cs-secret-value")
    result = await imported(
        tmp_path,
        api,
        {
            "type": "oauth2_client_credentials",
            "token_url": f"http://127.0.0.1:{port}/token",  # loopback, not allowlisted
            "client_id_env": "SHOP_CLIENT_ID",
            "client_secret_env": "SHOP_CLIENT_SECRET",
        },
    )

    with pytest.raises(ToolError) as err:
        await run(result, api)

    assert "was refused" in str(err.value)
    assert "cs-secret-value" not in str(err.value)
    assert not api.requests


async def test_a_redirect_to_another_origin_goes_without_the_api_key(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = secret("sk_live")
    monkeypatch.setenv("SHOP_KEY", key)
    auth = {"type": "api_key", "in": "header", "name": "X-API-Key", "value_env": "SHOP_KEY"}
    result = await imported(tmp_path, api, auth)

    async with serve_api() as elsewhere:
        api.redirects["/base/moved"] = elsewhere.url + "/landing"
        tool = next(op.tool for op in result.operations if op.name == "moved")
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            egress_allowlist=[api.hostport, elsewhere.hostport],
        )
        with tool_context(ToolContext(settings)):
            landed = await tool.ainvoke({})

    assert api.calls("/base/moved")[0].headers["x-api-key"] == key
    [followed] = elsewhere.calls("/landing")
    assert "x-api-key" not in followed.headers
    assert_absent([key], landed)


def agents_file(tmp_path: Path, api: Api, auth: str, extra: str = "") -> Path:
    (tmp_path / "shop.json").write_text(json.dumps(SPEC))
    path = tmp_path / "agents.yaml"
    path.write_text(
        "openapi:\n"
        "  shop:\n"
        "    source: shop.json\n"
        f"    server: {api.url}/base\n"
        f"{extra}"
        f"    auth: {auth}\n"
        "agents:\n"
        "  - name: orders\n"
        "    description: Orders.\n"
        "    role: fallback\n"
        "    tools:\n"
        "      - openapi: shop\n"
        "        tool: get_order\n"
        "        access: read\n"
    )
    return path


async def test_a_missing_variable_is_a_config_error_naming_it_and_its_line(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOP_KEY", raising=False)
    path = agents_file(
        tmp_path, api, "{type: api_key, in: header, name: X-API-Key, value_env: SHOP_KEY}"
    )

    with pytest.raises(ConfigError) as err:
        async with open_toolkit(load_registry(path), settings_for(api)):
            pass

    assert "agents.yaml:5: openapi.shop.auth.value_env:" in str(err.value)
    assert "SHOP_KEY is not set" in str(err.value)
    assert not api.requests, "nothing is fetched before the secrets are there"


async def test_an_env_file_beside_agents_yaml_gives_the_secret_and_the_environment_wins(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file, from_env = secret("file"), secret("env")
    (tmp_path / ".env.shop").write_text(f"SHOP_KEY={from_file}\nSHOP_OTHER={from_file}\n")
    monkeypatch.delenv("SHOP_KEY", raising=False)
    auth = "{type: api_key, in: header, name: X-API-Key, value_env: SHOP_KEY}"
    path = agents_file(tmp_path, api, auth, "    env_file: .env.shop\n")
    api.accept = {"x-api-key": from_file}

    async with open_toolkit(load_registry(path), settings_for(api)) as toolkit:
        [tool] = toolkit.tools_for("orders")
        with tool_context(ToolContext(settings_for(api))):
            from_the_file = await tool.ainvoke({"order_id": 7})
        monkeypatch.setenv("SHOP_KEY", from_env)

    async with open_toolkit(load_registry(path), settings_for(api)) as toolkit:
        [tool] = toolkit.tools_for("orders")
        with tool_context(ToolContext(settings_for(api))):
            await tool.ainvoke({"order_id": 7})

    assert "shipped" in str(from_the_file)
    assert [r.headers["x-api-key"] for r in api.calls("/base")] == [from_file, from_env]


async def test_a_missing_env_file_is_a_config_error_naming_the_file(
    tmp_path: Path, api: Api
) -> None:
    auth = "{type: bearer, token_env: SHOP_TOKEN}"
    path = agents_file(tmp_path, api, auth, "    env_file: .env.nowhere\n")

    with pytest.raises(ConfigError) as err:
        async with open_toolkit(load_registry(path), settings_for(api)):
            pass

    assert "openapi.shop.env_file:" in str(err.value)
    assert ".env.nowhere" in str(err.value) and "does not exist" in str(err.value)


def test_a_secret_pasted_instead_of_a_variable_name_is_refused_without_repeating_it(
    tmp_path: Path,
) -> None:
    pasted = "sk-live-" + secrets.token_hex(16)
    path = tmp_path / "agents.yaml"
    path.write_text(
        "openapi:\n  shop:\n    source: shop.json\n"
        f"    auth: {{type: bearer, token_env: {pasted}}}\n"
        "agents:\n  - name: orders\n    description: Orders.\n    role: fallback\n"
    )

    with pytest.raises(ConfigError) as err:
        load_registry(path)

    assert "the NAME of an environment variable" in str(err.value)
    assert pasted not in str(err.value)


async def test_the_report_says_which_schemes_the_spec_declares_and_what_would_satisfy_them(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = await imported(tmp_path, api, None)
    monkeypatch.setenv("SHOP_KEY", "k" * 12)
    configured = await imported(
        tmp_path,
        api,
        {"type": "api_key", "in": "header", "name": "x-api-key", "value_env": "SHOP_KEY"},
    )

    [warning] = [w for w in bare.warnings if "needs" in w]
    assert warning == (
        "this API needs an API key in header 'X-API-Key' (scheme 'key', 1 operations): set "
        "openapi.<name>.auth: {type: api_key, in: header, name: X-API-Key, value_env: ...}"
    )
    schemes = {s["name"]: s for s in bare.report()["auth"]["schemes"]}
    assert schemes["key"]["used"] and not schemes["key"]["satisfied"]
    assert schemes["oauth"]["auth"].startswith("{type: oauth2_client_credentials")
    assert not [w for w in configured.warnings if "needs" in w]
    auth = configured.report()["auth"]
    assert auth["configured"] == "api_key in header 'x-api-key' from $SHOP_KEY"
    assert {s["name"]: s["satisfied"] for s in auth["schemes"]} == {"key": True, "oauth": False}
    ops = {op["name"]: op for op in configured.report()["operations"]}
    assert ops["get_order"]["security"] == [["key"]] and ops["list_products"]["security"] == []
    assert ops["get_order"]["tags"] == ["orders"]


def stored_bytes(folder: Path, pattern: str) -> bytes:
    """Everything the database wrote: the file, its WAL and journal."""
    return b"".join(p.read_bytes() for p in folder.glob(pattern))


def echo(messages: list[BaseMessage]) -> str:
    last = messages[-1]
    return str(last.content) if isinstance(last, ToolMessage) else "?"


async def test_a_secret_echoed_by_the_api_never_reaches_the_conversation_or_the_database(
    tmp_path: Path, api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token = secret("tok")
    monkeypatch.setenv("SHOP_TOKEN", token)
    path = agents_file(tmp_path, api, "{type: bearer, token_env: SHOP_TOKEN}")
    api.accept = {"authorization": "not this one"}
    database = tmp_path / "conversations.db"
    settings = settings_for(api, agents_file=path, database_url=f"sqlite:///{database}")
    model = ScriptedChatModel(script=[call("get_order", {"order_id": 7}), echo])
    caplog.set_level(logging.DEBUG)

    async with Engine.open(settings, model=model, router_model=ScriptedChatModel(default="")) as e:
        conversation, _ = await e.start_conversation()
        turn = [event async for event in e.send(conversation, "where is order 7?")]
        stored = await e.store.events(conversation)

    [reply] = [event for event in turn if isinstance(event, ReplyEnd)]
    assert "bad credentials: Bearer [redacted]" in reply.text
    assert api.calls("/base")[0].headers["authorization"] == f"Bearer {token}"
    on_disk = stored_bytes(tmp_path, "conversations.db*")
    assert token.encode() not in on_disk and b"[redacted]" in on_disk
    assert_absent(
        [token],
        [event.model_dump(mode="json") for event in turn],
        [record.data for record in stored],
        caplog.text,
        [[m.model_dump() for m in prompt] for prompt in model.seen],  # every prompt
        model.seen_tools,
    )


def test_an_unknown_key_in_auth_names_the_keys_its_type_takes(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "openapi:\n  shop:\n    source: shop.json\n"
        "    auth: {type: bearer, token: SHOP_TOKEN}\n"
        "agents:\n  - name: orders\n    description: Orders.\n    role: fallback\n"
    )

    with pytest.raises(ConfigError) as err:
        load_registry(path)

    assert "agents.yaml:4: openapi.shop.auth.bearer: unknown key 'token'" in str(err.value)
    assert "(allowed: type, token_env)" in str(err.value)
