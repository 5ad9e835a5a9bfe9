"""Credentials of an import: API key (header, query, cookie), bearer, basic, OAuth2 client
credentials; read from the environment (and an optional dotenv file) when the import loads.

The model never sees or sets them: the parameters they fill are left out of every tool's input
schema, they are added to the request after it is built from the model's arguments, and every
occurrence of a secret (raw, percent-encoded or base64 in a basic header) is scrubbed from tool
results, error messages and httpx's log records. An OAuth2 token is fetched through the egress
guard, one fetch at a time, cached until shortly before it expires and fetched again once when
the API answers 401.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import time
import weakref
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from dotenv import dotenv_values
from pydantic import SecretStr

from smart_support.egress import HTTPError, TimeoutException, async_client
from smart_support.errors import ConfigError, EgressRefused, ToolError
from smart_support.openapi.request import HttpRequest
from smart_support.registry.schema import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentialsAuth,
)
from smart_support.settings import Settings

REDACTED = "[redacted]"


class MissingSecret(ConfigError):
    """A variable the import's auth names is not set (or empty); `path` is its field below the
    import, e.g. `("auth", "value_env")`, so the caller can point at the line of agents.yaml."""

    def __init__(self, message: str, path: tuple[str, ...]) -> None:
        self.message = message
        self.path = path
        super().__init__(message)


def environment(env_file: Path | None) -> dict[str, str]:
    """The variables auth can use: the dotenv file's, overridden by the process environment.

    Raises:
        MissingSecret: The file does not exist or cannot be read.
    """
    values: dict[str, str] = {}
    if env_file is not None:
        if not env_file.is_file():
            raise MissingSecret(f"the env_file {str(env_file)!r} does not exist", ("env_file",))
        try:
            values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
        except (OSError, UnicodeDecodeError) as exc:
            raise MissingSecret(
                f"cannot read the env_file {str(env_file)!r} ({type(exc).__name__})", ("env_file",)
            ) from None
    values.update(os.environ)
    return values


def _secret(env: dict[str, str], auth: AuthSpec, field: str, env_file: Path | None) -> SecretStr:
    variable = getattr(auth, field)
    value = env.get(variable, "")
    if not value:
        state = "is empty" if variable in env else "is not set"
        where = (
            f" (nor in {str(env_file)!r})" if env_file is not None and state == "is not set" else ""
        )
        raise MissingSecret(f"the environment variable {variable} {state}{where}", ("auth", field))
    return SecretStr(value)


class Credentials:
    """What one import adds to every request; subclasses per scheme."""

    #: (location, lower-case name) of the parameters the credentials fill: never tool inputs.
    hidden: frozenset[tuple[str, str]] = frozenset()
    #: The headers that carry them: dropped from a redirect to another origin.
    carried: tuple[str, ...] = ("Authorization",)

    def __init__(self, spec: AuthSpec) -> None:
        self.spec = spec

    def describe(self) -> str:
        """One line for reports and logs: the scheme and the variables, never a value."""
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """Every string that must never leave: values and the encodings they travel in."""
        raise NotImplementedError

    async def apply(self, request: HttpRequest, settings: Settings) -> HttpRequest:
        """A copy of `request` carrying the credentials."""
        raise NotImplementedError

    async def rejected(self, request: HttpRequest) -> bool:
        """The API answered 401 to `request`: whether sending it again may succeed."""
        return False


def _set_header(request: HttpRequest, name: str, value: str) -> HttpRequest:
    headers = {k: v for k, v in request.headers.items() if k.lower() != name.lower()}
    headers[name] = value
    return replace(request, headers=headers, query=list(request.query))


def _variants(value: str) -> list[str]:
    return list(dict.fromkeys([value, quote(value, safe=""), quote_plus(value)]))


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class ApiKey(Credentials):
    def __init__(self, spec: ApiKeyAuth, value: SecretStr) -> None:
        super().__init__(spec)
        self._spec = spec
        self._value = value
        self.hidden = frozenset({(spec.in_, spec.name.lower())})
        self.carried = {"header": (spec.name,), "cookie": ("Cookie",), "query": ()}[spec.in_]
        _register(self)

    def describe(self) -> str:
        return f"api_key in {self._spec.in_} {self._spec.name!r} from ${self._spec.value_env}"

    def secrets(self) -> list[str]:
        return _variants(self._value.get_secret_value())

    async def apply(self, request: HttpRequest, settings: Settings) -> HttpRequest:
        value, name = self._value.get_secret_value(), self._spec.name
        if self._spec.in_ == "header":
            return _set_header(request, name, value)
        if self._spec.in_ == "query":
            query = [(k, v) for k, v in request.query if k != name] + [(name, value)]
            return replace(request, query=query, headers=dict(request.headers))
        cookies = [
            c.strip()
            for c in request.headers.get("Cookie", "").split(";")
            if c.strip() and c.strip().split("=", 1)[0] != name
        ]
        return _set_header(request, "Cookie", "; ".join([*cookies, f"{name}={value}"]))


class Bearer(Credentials):
    hidden = frozenset({("header", "authorization")})

    def __init__(self, spec: BearerAuth, token: SecretStr) -> None:
        super().__init__(spec)
        self._spec = spec
        self._token = token
        _register(self)

    def describe(self) -> str:
        return f"bearer token from ${self._spec.token_env}"

    def secrets(self) -> list[str]:
        return _variants(self._token.get_secret_value())

    async def apply(self, request: HttpRequest, settings: Settings) -> HttpRequest:
        return _set_header(request, "Authorization", f"Bearer {self._token.get_secret_value()}")


class Basic(Credentials):
    hidden = frozenset({("header", "authorization")})

    def __init__(self, spec: BasicAuth, username: SecretStr, password: SecretStr) -> None:
        super().__init__(spec)
        self._spec = spec
        self._header = SecretStr(_basic(username.get_secret_value(), password.get_secret_value()))
        self._password = password
        _register(self)

    def describe(self) -> str:
        return f"basic auth from ${self._spec.username_env} and ${self._spec.password_env}"

    def secrets(self) -> list[str]:
        return [*_variants(self._password.get_secret_value()), self._header.get_secret_value()]

    async def apply(self, request: HttpRequest, settings: Settings) -> HttpRequest:
        return _set_header(request, "Authorization", f"Basic {self._header.get_secret_value()}")


_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ClientCredentials(Credentials):
    """OAuth2 client credentials: one token for the import, shared by its calls."""

    hidden = frozenset({("header", "authorization")})

    def __init__(
        self, spec: OAuth2ClientCredentialsAuth, client_id: SecretStr, client_secret: SecretStr
    ) -> None:
        super().__init__(spec)
        self._spec = spec
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: SecretStr | None = None
        self._expires = 0.0
        # Every token fetched so far (bounded): an API may echo an older one.
        self._tokens: deque[str] = deque(maxlen=16)
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        #: Seconds, monotonic; tests may replace it.
        self.clock = time.monotonic
        _register(self)

    def describe(self) -> str:
        scopes = f", scopes {' '.join(self._spec.scopes)}" if self._spec.scopes else ""
        return (
            f"oauth2 client credentials at {self._spec.token_url} from "
            f"${self._spec.client_id_env} and ${self._spec.client_secret_env}{scopes}"
        )

    def secrets(self) -> list[str]:
        secret = self._client_secret.get_secret_value()
        found = [
            *_variants(secret),
            _basic(quote_plus(self._client_id.get_secret_value()), quote_plus(secret)),
        ]
        for token in self._tokens:
            found.extend(_variants(token))
        return found

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def token(self, settings: Settings) -> str:
        """The cached token, or a new one when it expires soon (one fetch at a time).

        Raises:
            ToolError: The token endpoint was refused, failed, or answered no usable token.
        """
        async with self._lock():
            if self._token is None or self.clock() >= self._expires:
                self._token = None
                token, lifetime = await self._fetch(settings)
                self._token = SecretStr(token)
                self._tokens.append(token)
                self._expires = self.clock() + lifetime - min(30.0, lifetime * 0.1)
            return self._token.get_secret_value()

    async def apply(self, request: HttpRequest, settings: Settings) -> HttpRequest:
        token = await self.token(settings)
        return _set_header(request, "Authorization", f"Bearer {token}")

    async def rejected(self, request: HttpRequest) -> bool:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
        async with self._lock():
            if self._token is not None and self._token.get_secret_value() == sent:
                self._token = None  # the next call fetches a new one
        return True

    async def _fetch(self, settings: Settings) -> tuple[str, float]:
        spec = self._spec
        form = {"grant_type": "client_credentials"}
        if spec.scopes:
            form["scope"] = " ".join(spec.scopes)
        if spec.audience:
            form["audience"] = spec.audience
        headers = {"Accept": "application/json"}
        client_id = self._client_id.get_secret_value()
        secret = self._client_secret.get_secret_value()
        if spec.client_auth == "basic":  # RFC 6749 2.3.1: form-encoded, then basic
            headers["Authorization"] = f"Basic {_basic(quote_plus(client_id), quote_plus(secret))}"
        else:
            form.update(client_id=client_id, client_secret=secret)
        where = f"the token endpoint {spec.token_url}"
        try:
            # No redirects: a 307 would carry the client secret to wherever it points.
            async with async_client(settings, follow_redirects=False) as client:
                response = await client.post(spec.token_url, data=form, headers=headers)
        except EgressRefused as exc:
            raise ToolError(self.scrub(f"{where} was refused: {exc.detail}")) from None
        except TimeoutException:
            raise ToolError(f"{where} did not answer in time") from None
        except HTTPError as exc:
            raise ToolError(f"{where} failed ({type(exc).__name__})") from None
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        if response.status_code != 200:
            code = body.get("error")
            detail = f" ({code})" if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else ""
            raise ToolError(self.scrub(f"{where} answered {response.status_code}{detail}"))
        token = body.get("access_token")
        token_type = str(body.get("token_type") or "bearer").lower()
        if not isinstance(token, str) or not token or token_type != "bearer":
            raise ToolError(f"{where} answered no bearer access_token")
        try:
            lifetime = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        return token, max(0.0, min(lifetime, 86_400.0))

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets())


def credentials(auth: AuthSpec, env_file: Path | None = None) -> Credentials:
    """The credentials `auth` describes, their secrets read now.

    Raises:
        MissingSecret: A variable is not set or empty, or the env_file is missing.
    """
    env = environment(env_file)
    if isinstance(auth, ApiKeyAuth):
        return ApiKey(auth, _secret(env, auth, "value_env", env_file))
    if isinstance(auth, BearerAuth):
        return Bearer(auth, _secret(env, auth, "token_env", env_file))
    if isinstance(auth, BasicAuth):
        return Basic(
            auth,
            _secret(env, auth, "username_env", env_file),
            _secret(env, auth, "password_env", env_file),
        )
    return ClientCredentials(
        auth,
        _secret(env, auth, "client_id_env", env_file),
        _secret(env, auth, "client_secret_env", env_file),
    )


def scrub(value: Any, secrets: list[str]) -> Any:
    """`value` (a parsed JSON result, or text) with every occurrence of a secret redacted."""
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not ordered:
        return value

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            for secret in ordered:
                if secret in item:
                    item = item.replace(secret, REDACTED)
            return item
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)


# httpx logs every request's URL at INFO: an API key in the query would be in it.
_live: weakref.WeakSet[Credentials] = weakref.WeakSet()


class _RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [s for c in list(_live) for s in c.secrets()]
        if secrets:
            message = record.getMessage()
            cleaned = scrub(message, secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactSecrets()


def _register(creds: Credentials) -> None:
    _live.add(creds)
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


# --- what a spec asks for, for the import's report -------------------------------------------


def needs(scheme: dict[str, Any]) -> str:
    """What a security scheme asks for, in a few words."""
    kind = str(scheme.get("type", "?"))
    if kind == "apiKey":
        return f"an API key in {scheme.get('in')} {str(scheme.get('name'))!r}"
    if kind == "basic" or (kind == "http" and str(scheme.get("scheme", "")).lower() == "basic"):
        return "HTTP basic auth"
    if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
        return "a bearer token"
    if kind == "oauth2":
        flows = _oauth2_flows(scheme)
        return f"OAuth2 ({', '.join(flows) or 'no flows'})"
    return f"{kind} {scheme.get('scheme', '')}".strip()


def _oauth2_flows(scheme: dict[str, Any]) -> list[str]:
    if isinstance(scheme.get("flows"), dict):
        return [str(f) for f in scheme["flows"]]
    flow = scheme.get("flow")  # Swagger 2.0: implicit, password, application, accessCode
    return ["clientCredentials" if flow == "application" else str(flow)] if flow else []


def suggestion(scheme: dict[str, Any]) -> str | None:
    """The `auth:` that would satisfy a scheme, or None when this version cannot."""
    kind = str(scheme.get("type", ""))
    http = str(scheme.get("scheme", "")).lower()
    if kind == "apiKey" and scheme.get("in") in ("header", "query", "cookie"):
        return f"{{type: api_key, in: {scheme['in']}, name: {scheme.get('name')}, value_env: ...}}"
    if kind == "basic" or (kind == "http" and http == "basic"):
        return "{type: basic, username_env: ..., password_env: ...}"
    if kind == "http" and http == "bearer":
        return "{type: bearer, token_env: ...}"
    if kind == "oauth2" and "clientCredentials" in _oauth2_flows(scheme):
        flows = scheme.get("flows")
        flow = flows.get("clientCredentials") if isinstance(flows, dict) else scheme
        url = flow.get("tokenUrl", "...") if isinstance(flow, dict) else "..."
        return (
            f"{{type: oauth2_client_credentials, token_url: {url}, client_id_env: ..., "
            "client_secret_env: ...}"
        )
    if kind == "oauth2":
        return "{type: bearer, token_env: ...} (with a token you obtain yourself)"
    return None


def satisfies(auth: AuthSpec | None, scheme: dict[str, Any]) -> bool:
    """Whether the configured auth gives what the scheme asks for."""
    kind = str(scheme.get("type", ""))
    http = str(scheme.get("scheme", "")).lower()
    if isinstance(auth, ApiKeyAuth):
        return (
            kind == "apiKey"
            and scheme.get("in") == auth.in_
            and str(scheme.get("name", "")).lower() == auth.name.lower()
        )
    if isinstance(auth, BasicAuth):
        return kind == "basic" or (kind == "http" and http == "basic")
    if isinstance(auth, (BearerAuth, OAuth2ClientCredentialsAuth)):
        return kind in ("oauth2", "openIdConnect") or (kind == "http" and http == "bearer")
    return False
