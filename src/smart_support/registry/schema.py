"""The pydantic models behind agents.yaml (see docs/agents-yaml.md).

Field-level rules live here; rules that look across entries (unique names, one fallback, a
declared MCP server) live in `smart_support.registry.loader`, which knows the line of every node.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
# What the LLM providers accept as a tool name.
TOOL_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
PYTHON_REF_PATTERN = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")

Access = Literal["read", "write"]
Role = Literal["specialist", "fallback", "escalation"]


def summary_fields(template: str) -> set[str]:
    """The argument names a summary template uses: `"Cancel {order_id}"` -> `{"order_id"}`.

    Raises:
        ValueError: The template is malformed (e.g. an unmatched brace).
    """
    names = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None:
            names.add(re.split(r"[.\[]", field, maxsplit=1)[0])
    return names


def check_http_url(value: str | None) -> str | None:
    """Return `value` if it is None or an http(s) URL with a host, else raise ValueError."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def check_name(value: str) -> str:
    """Return `value` if it is a valid agent or server name, else raise ValueError."""
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lowercase letters, digits and underscores, "
            "starting with a letter ([a-z][a-z0-9_]*)"
        )
    return value


class CheckSpec(_Strict):
    """A read done before a write asks for approval, so nobody approves a doomed action."""

    tool: str
    """A `read` tool of the same agent, called with the write's arguments that it accepts."""

    expect: dict[str, list[str | int | float | bool]] | None = None
    """Optional: result fields and the values they must have, e.g. `{status: [pending]}`;
    when a field has another value the write is not offered for approval."""

    @field_validator("tool")
    @classmethod
    def _check_tool_name(cls, value: str) -> str:
        if not TOOL_NAME_PATTERN.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid tool name")
        return value


class OwnerSpec(_Strict):
    """Whose record a read returned: a result field that must equal a claim of the customer."""

    field: str = Field(min_length=1)
    """Dotted path into the tool's JSON result, e.g. `customer_email` or `customer.id`."""

    claim: str = Field(min_length=1)
    """The verified claim it must equal: `email`, `customer_id`, `name` or one the host site
    adds. Strings compare without case and surrounding spaces."""

    not_found: str = "not found"
    """What the agent gets instead of a record that is not the customer's, with `{argument}`
    placeholders; word it as the API's own "not found", so nobody learns that the record
    exists (e.g. `"order {order_id} does not exist"`)."""


class ToolSpec(_Strict):
    """One entry of an agent's `tools:` list: a Python callable, or tools of an MCP server."""

    python: str | None = None
    """`package.module:function` (or `package.module:Class.method` for a static or class method)
    of a sync or async callable; its docstring becomes the tool description (Google style)."""

    mcp: str | None = None
    """The name of a server declared under `mcp_servers`."""

    openapi: str | None = None
    """The name of an import declared under `openapi:` (an OpenAPI or Swagger spec)."""

    tool: str | None = None
    """With `mcp:` or `openapi:`: the one tool (operation) to give the agent. Without it the agent
    gets every tool the server lists (an import's: GET/HEAD/OPTIONS reads, the rest writes)."""

    name: str | None = None
    """Optional tool name shown to the model, instead of the function name (`python:`) or the
    MCP tool name (`mcp:` with `tool:`). Letters, digits, `_` and `-`, at most 64."""

    access: Access = "write"
    """`read` runs at once; `write` waits for a person's approval. Undeclared counts as write."""

    summary: str | None = None
    """Optional approval summary template with `{argument}` placeholders, e.g.
    `"Cancel order {order_id}"`; shown to the person who approves a write."""

    check: CheckSpec | None = None
    """With `access: write` only: re-check the current state before asking for approval (and
    again when the customer retries after an approval expired)."""

    read_tools: list[str] | None = None
    """With `mcp:` and no `tool:` only: the server's tools that are reads. Every other tool of
    the server, including any it adds later, is a write (`access: read` cannot cover a whole
    server)."""

    needs_customer: bool = False
    """The tool handles one customer's data: it is refused until the conversation's customer is
    verified (a signed identity from the host site, or the `identity.verify` tool). Implied by
    `bind:` and `owner:`."""

    bind: dict[str, str] | None = None
    """Arguments filled from the verified customer's claims, e.g. `{email: email}`; the model
    never sees them in the tool's schema and cannot pass another value."""

    owner: OwnerSpec | None = None
    """With `access: read`: checked on every result before the model sees it (and before a
    write whose `check:` uses this tool is offered for approval)."""

    tags: list[str] | None = Field(default=None, min_length=1)
    """With `openapi:` and no `tool:` only: just the operations with one of these tags (the
    spec's `tags` of each operation), instead of every operation of the import."""

    @field_validator("python")
    @classmethod
    def _python_ref(cls, value: str | None) -> str | None:
        if value is not None and not PYTHON_REF_PATTERN.fullmatch(value):
            raise ValueError(f"{value!r} is not a reference of the form package.module:function")
        return value

    @field_validator("mcp", "openapi")
    @classmethod
    def _server_name(cls, value: str | None) -> str | None:
        return check_name(value) if value is not None else None

    @field_validator("name", "tool")
    @classmethod
    def _tool_name(cls, value: str | None) -> str | None:
        if value is not None and not TOOL_NAME_PATTERN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid tool name: letters, digits, '_' or '-', at most 64"
            )
        return value

    @field_validator("summary")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                summary_fields(value)
            except ValueError as exc:
                raise ValueError(
                    f"not a valid template ({exc}); write {{{{ and }}}} for braces"
                ) from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ToolSpec:
        sources = [s for s in (self.python, self.mcp, self.openapi) if s is not None]
        if len(sources) != 1:
            raise ValueError(
                "a tool entry needs exactly one source: `python:`, `mcp:` or `openapi:`"
            )
        remote = self.mcp is not None or self.openapi is not None
        if self.tool is not None and not remote:
            raise ValueError("`tool:` goes only with `mcp:` or `openapi:`")
        if self.name is not None and remote and self.tool is None:
            raise ValueError("`name:` on an `mcp:` or `openapi:` entry needs `tool:`")
        if self.check is not None and self.access != "write":
            raise ValueError("`check:` goes only with `access: write`")
        whole_server = self.mcp is not None and self.tool is None
        whole_import = self.openapi is not None and self.tool is None
        if whole_server and self.access == "read":
            raise ValueError(
                "`access: read` on a whole MCP server would make every tool it has, or adds "
                "later, a read: list the read tools under `read_tools:` (the others are writes)"
            )
        if whole_import and "access" in self.model_fields_set:
            raise ValueError(
                "a whole import's access comes from each operation's method (GET/HEAD/OPTIONS "
                "read, the rest write); to change one, give it its own entry with `tool:`"
            )
        if self.read_tools is not None and not whole_server:
            raise ValueError("`read_tools:` goes only with `mcp:` and no `tool:`")
        if self.tags is not None and not whole_import:
            raise ValueError("`tags:` goes only with `openapi:` and no `tool:`")
        whole_server = whole_server or whole_import
        if whole_server and (self.bind or self.owner or self.needs_customer):
            raise ValueError(
                "`bind:`, `owner:` and `needs_customer:` need one tool: add `tool:` to the entry"
            )
        if self.owner is not None and self.access != "read":
            raise ValueError("`owner:` goes only with `access: read` (writes use `check:`)")
        return self

    @property
    def requires_customer(self) -> bool:
        """Whether the tool is refused until the customer is verified."""
        return self.needs_customer or bool(self.bind) or self.owner is not None

    def access_of(self, tool_name: str, method_access: Access | None = None) -> Access:
        """The access level of one tool made from this entry: a whole MCP server's tools are
        writes unless listed in `read_tools:`; a whole import's follow their method."""
        if self.read_tools is not None:
            return "read" if tool_name in self.read_tools else "write"
        if self.openapi is not None and self.tool is None:
            return method_access or "write"
        return self.access

    def metadata(
        self, tool_name: str | None = None, method_access: Access | None = None
    ) -> dict[str, Any]:
        """What the tool made from this entry (named `tool_name` for a whole MCP server's or
        import's tools) carries in `BaseTool.metadata`: what the tool guard enforces."""
        data: dict[str, Any] = {
            "access": self.access_of(tool_name, method_access) if tool_name else self.access,
            "summary": self.summary,
            "source": self.source,
        }
        if self.requires_customer:
            data["needs_customer"] = True
        if self.check is not None:
            data["check"] = self.check.model_dump()
        if self.bind:
            data["bind"] = dict(self.bind)
        if self.owner is not None:
            data["owner"] = self.owner.model_dump()
        return data

    @property
    def source(self) -> str:
        """`python:package.module:function`, `mcp:server` or `openapi:import`."""
        if self.python is not None:
            return f"python:{self.python}"
        return f"mcp:{self.mcp}" if self.mcp is not None else f"openapi:{self.openapi}"

    @property
    def declared_name(self) -> str | None:
        """The tool name known before resolution (None for a whole MCP server)."""
        if self.name is not None:
            return self.name
        if self.python is not None:
            return self.python.rsplit(":", 1)[1].rsplit(".", 1)[-1]
        return self.tool


class McpServerSpec(_Strict):
    """An MCP server: a command run over stdio, or a streamable HTTP URL."""

    command: list[str] | None = Field(None, min_length=1)
    """Program and arguments for a stdio server, e.g. `[python, -m, my_pkg.mcp_server]`.
    `python` (or `python3`) means the interpreter that runs Smart Support."""

    url: str | None = None
    """`http://` or `https://` URL of a streamable HTTP server; reached through the egress guard."""

    env: dict[str, str] | None = None
    """Extra environment variables for a stdio server (`${VAR}` is expanded from ours)."""

    @field_validator("command")
    @classmethod
    def _non_empty_program(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value[0].strip():
            raise ValueError("the program (first item) is empty")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_http_url(value)

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server needs exactly one of `command:` (stdio) or `url:`")
        if self.env is not None and self.command is None:
            raise ValueError("`env:` goes only with `command:`")
        return self


ENV_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def check_env_name(value: str) -> str:
    """Return `value` if it can be the name of an environment variable, else raise ValueError.

    The message never repeats the value: a person who pasted the secret itself must not find it
    again in an error message or a log.
    """
    looks_secret = (
        len(value) >= 24 and any(c.islower() for c in value) and any(c.isdigit() for c in value)
    )
    if not ENV_NAME_PATTERN.fullmatch(value) or looks_secret:
        raise ValueError(
            "this is the NAME of an environment variable that holds the secret (e.g. "
            "SHOP_API_KEY: letters, digits and '_'), never the secret itself"
        )
    return value


class _AuthSpec(_Strict):
    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        # Here rather than by `extra="forbid"` alone: the message names this scheme's keys.
        if isinstance(data, dict):
            allowed = [f.alias or name for name, f in cls.model_fields.items()]
            unknown = [str(k) for k in data if k not in allowed]
            if unknown:
                raise ValueError(
                    f"unknown key {unknown[0]!r} for type {data.get('type')} "
                    f"(allowed: {', '.join(allowed)})"
                )
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _env_names(cls, value: Any, info: Any) -> Any:
        if str(info.field_name).endswith("_env"):
            return check_env_name(value)
        return value


class ApiKeyAuth(_AuthSpec):
    """An API key sent in a header, a query parameter or a cookie."""

    type: Literal["api_key"]
    in_: Literal["header", "query", "cookie"] = Field(alias="in")
    """Where the key goes: `header`, `query` or `cookie`."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
    """The header, query parameter or cookie name, e.g. `X-API-Key`."""

    value_env: str
    """The environment variable holding the key."""


class BearerAuth(_AuthSpec):
    """`Authorization: Bearer <token>` with a long-lived token."""

    type: Literal["bearer"]
    token_env: str
    """The environment variable holding the token."""


class BasicAuth(_AuthSpec):
    """HTTP basic authentication."""

    type: Literal["basic"]
    username_env: str
    """The environment variable holding the user name."""

    password_env: str
    """The environment variable holding the password."""


class OAuth2ClientCredentialsAuth(_AuthSpec):
    """OAuth2 client credentials: a token fetched from `token_url` (through the egress guard),
    cached until it expires, sent as `Authorization: Bearer <token>`."""

    type: Literal["oauth2_client_credentials"]
    token_url: str
    """The token endpoint (never taken from the spec, which must not decide where the client
    secret goes)."""

    client_id_env: str
    """The environment variable holding the client id."""

    client_secret_env: str
    """The environment variable holding the client secret."""

    scopes: list[str] = Field(default_factory=list)
    """Scopes asked for (sent space-separated as `scope`)."""

    audience: str | None = None
    """Optional `audience` form field (Auth0 and similar providers)."""

    client_auth: Literal["basic", "post"] = "basic"
    """How the client authenticates to the token endpoint: `basic` (HTTP basic, the OAuth2
    default) or `post` (`client_id` and `client_secret` in the form)."""

    @field_validator("token_url")
    @classmethod
    def _http_token_url(cls, value: str) -> str:
        checked = check_http_url(value)
        assert checked is not None
        return checked


AuthSpec = Annotated[
    ApiKeyAuth | BearerAuth | BasicAuth | OAuth2ClientCredentialsAuth, Field(discriminator="type")
]


class OpenApiSpec(_Strict):
    """An OpenAPI or Swagger spec whose operations become tools (see `smart-support import`)."""

    source: str = Field(min_length=1)
    """A file (relative to agents.yaml) or an http(s) URL, fetched through the egress guard."""

    server: str | None = None
    """A server URL replacing the spec's servers (your API's address, a sandbox)."""

    auth: AuthSpec | None = None
    """How every call of the import authenticates: `type: api_key | bearer | basic |
    oauth2_client_credentials`, with the NAMES of the environment variables holding the
    secrets (read at start from the environment, then `env_file`)."""

    env_file: str | None = Field(default=None, min_length=1)
    """A dotenv file (relative to agents.yaml) with the auth's variables; the environment wins
    over it."""

    @field_validator("server")
    @classmethod
    def _http_server(cls, value: str | None) -> str | None:
        return check_http_url(value)


class AgentSpec(_Strict):
    """One agent: who it is, what it handles, and which tools it may call."""

    name: str
    """Unique id, `[a-z][a-z0-9_]*`."""

    display_name: str | None = Field(None, min_length=1, max_length=60)
    """How customers see the agent (e.g. `Orders team`); the id when unset."""

    description: str = Field(min_length=1)
    """What the agent handles; the supervisor routes on it."""

    role: Role = "specialist"
    """`specialist` (default), `fallback` (exactly one: answers what no specialist fits) or
    `escalation` (at most one: hands the conversation to a person)."""

    personality: str = ""
    """The agent's system prompt."""

    examples: list[str] = Field(default_factory=list)
    """Example customer requests, used for routing."""

    tools: list[ToolSpec] = Field(default_factory=list)
    """The tools the agent may call."""

    @field_validator("name")
    @classmethod
    def _agent_name(cls, value: str) -> str:
        return check_name(value)

    @property
    def shown_name(self) -> str:
        """The name customers see."""
        return self.display_name or self.name.replace("_", " ").capitalize()


class VerifySpec(_Strict):
    """How an anonymous customer proves who they are in the conversation."""

    tool: str
    """A `read` tool of some agent that checks details the customer gives (e.g. the email on
    an order and its number) and answers `{"ok": true, "customer": {"customer_id": ...,
    "email": ..., "name": ...}}` when they match; any other answer is a failed attempt."""

    max_attempts: int = Field(5, ge=1, le=20)
    """Failed attempts allowed per conversation; after that the tool is refused."""

    ask: str = (
        "Before I can look at anything personal I need to confirm who you are: please tell me "
        "the email address on your account and one of your order numbers."
    )
    """What the agent is told to ask when a tool needs a verified customer."""

    @field_validator("tool")
    @classmethod
    def _check_tool_name(cls, value: str) -> str:
        if not TOOL_NAME_PATTERN.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid tool name")
        return value


class IdentitySpec(_Strict):
    """Customer identity: how a conversation learns who its customer is."""

    verify: VerifySpec | None = None
    """The verification tool for customers without a signed identity from the host site."""


class RegistryFile(_Strict):
    """The whole agents.yaml file."""

    version: Literal[1] = 1
    """Format version; only 1 exists."""

    mcp_servers: dict[str, McpServerSpec] = Field(default_factory=dict)
    """MCP servers by name; one session per server is held open for the app's lifetime."""

    openapi: dict[str, OpenApiSpec] = Field(default_factory=dict)
    """OpenAPI/Swagger imports by name; each is loaded once when the app starts."""

    identity: IdentitySpec = Field(default_factory=IdentitySpec)
    """How customers are identified (signed identities need no entry here)."""

    agents: list[AgentSpec] = Field(min_length=1)
    """The agents; exactly one has role `fallback`."""


Path_ = tuple[str | int, ...]


def format_path(path: Path_) -> str:
    """`("agents", 1, "tools", 0, "access")` -> `agents[1].tools[0].access`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class Registry:
    """A loaded, validated agents.yaml: the agents, the MCP servers, and where each node was."""

    def __init__(
        self,
        spec: RegistryFile,
        *,
        file: str,
        lines: dict[Path_, int],
        base_dir: Path | None = None,
    ) -> None:
        self.spec = spec
        self.file = file
        #: The directory of the file: stdio MCP servers run there.
        self.base_dir = base_dir
        self._lines = lines

    def with_spec(self, spec: RegistryFile) -> Registry:
        """The same file (its lines, its folder) with another content, e.g. with agents added
        after the file's own: the file's entries keep their line numbers."""
        return Registry(spec, file=self.file, lines=dict(self._lines), base_dir=self.base_dir)

    @property
    def agents(self) -> list[AgentSpec]:
        """Every agent, in file order."""
        return list(self.spec.agents)

    @property
    def mcp_servers(self) -> dict[str, McpServerSpec]:
        """The declared MCP servers by name."""
        return dict(self.spec.mcp_servers)

    def agent(self, name: str) -> AgentSpec:
        """The agent called `name`.

        Raises:
            KeyError: No agent has that name.
        """
        for agent in self.spec.agents:
            if agent.name == name:
                return agent
        raise KeyError(f"no agent named {name!r} in {self.file}")

    @property
    def fallback(self) -> AgentSpec:
        """The one agent with role `fallback`."""
        return next(a for a in self.spec.agents if a.role == "fallback")

    @property
    def openapi_imports(self) -> dict[str, OpenApiSpec]:
        """The declared OpenAPI imports by name."""
        return dict(self.spec.openapi)

    @property
    def identity(self) -> IdentitySpec:
        """The `identity:` section."""
        return self.spec.identity

    @property
    def escalation(self) -> AgentSpec | None:
        """The agent with role `escalation`, if any."""
        return next((a for a in self.spec.agents if a.role == "escalation"), None)

    @property
    def specialists(self) -> list[AgentSpec]:
        """The agents with role `specialist`, in file order."""
        return [a for a in self.spec.agents if a.role == "specialist"]

    def line_of(self, path: Path_) -> int | None:
        """The 1-based line of the node at `path` (or of its nearest ancestor in the file)."""
        for end in range(len(path), -1, -1):
            line = self._lines.get(path[:end])
            if line is not None:
                return line
        return None

    def where(self, *path: str | int) -> dict[str, Any]:
        """`file=`, `line=`, `field=` keyword arguments for a ConfigError about `path`."""
        return {"file": self.file, "line": self.line_of(path), "field": format_path(path)}

    def tool_path(self, agent_name: str, index: int) -> Path_:
        """The path of an agent's `index`-th tool entry, for `where()`."""
        position = next(i for i, a in enumerate(self.spec.agents) if a.name == agent_name)
        return ("agents", position, "tools", index)
