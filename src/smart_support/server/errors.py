"""The one place where errors become HTTP responses and WebSocket error frames.

Product errors (`SmartSupportError`) carry a stable `code` and a `public_message`; anything else
becomes `internal_error` with a generic sentence, and its text goes to the log only.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from smart_support.errors import (
    ApprovalError,
    ConversationNotFound,
    SmartSupportError,
    StoreUnavailable,
)
from smart_support.server.protocol import MAX_FRAME_CHARS, MAX_MESSAGE_CHARS, ErrorFrame

log = logging.getLogger("smart_support.server")

#: No request of this API has a body anywhere near this; larger ones are refused unread.
MAX_BODY_BYTES = 64 * 1024

#: HTTP status per error code. Codes not listed map to 500.
HTTP_STATUS: dict[str, int] = {
    "bad_frame": 400,
    "bad_request": 400,
    "body_too_large": 413,
    "method_not_allowed": 405,
    "unauthorized": 401,
    "forbidden": 403,
    "identity_refused": 403,
    "operator_disabled": 404,
    "conversation_not_found": 404,
    "not_found": 404,
    "approval_error": 409,
    "approval_pending": 409,
    "import_not_found": 404,
    "import_closed": 409,
    "confirmation_needed": 409,
    "bad_change": 400,
    "bad_message": 400,
    "busy": 409,
    "config_error": 500,
    "egress_refused": 502,
    "tool_error": 502,
    "spec_error": 422,
    "spec_refused": 422,
    "activation_failed": 422,
    "model_unavailable": 503,
    "store_unavailable": 503,
    "internal_error": 500,
}

#: Messages of the protocol-level codes (those that no SmartSupportError carries).
PROTOCOL_MESSAGES: dict[str, str] = {
    "bad_frame": "That message could not be understood.",
    "frame_too_large": f"That message is too long (at most {MAX_FRAME_CHARS} bytes per frame).",
    "message_too_long": f"Please keep messages under {MAX_MESSAGE_CHARS} characters.",
    "unsupported_version": "This protocol version is not supported; use v1.",
    "no_conversation": "Start or resume a conversation first.",
    "unauthorized": "This conversation does not exist or is not yours.",
    "busy": "Please wait for the current reply to finish.",
    "operator_disabled": "The operator API is disabled (no OPERATOR_TOKEN is configured).",
    "forbidden": "A valid operator token is required.",
    "not_found": "Not found.",
    "bad_request": "That request could not be understood.",
    "method_not_allowed": "That method is not allowed here (see the Allow header).",
    "body_too_large": f"That request is too large (at most {MAX_BODY_BYTES // 1024} KiB).",
    "internal_error": SmartSupportError.public_message,
}


class ErrorBody(BaseModel):
    """Every REST error answer: a stable `code` (the table in docs/protocol.md) and a
    `message` safe to show anyone; the details of unexpected errors stay in the server log."""

    code: str
    message: str


#: What each refusal status means, as the OpenAPI document lists it.
ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "`bad_request`: an invalid parameter or body (or a more specific code).",
    401: "`unauthorized`: a missing or wrong operator token.",
    404: "`operator_disabled` (no OPERATOR_TOKEN configured) or the record does not exist.",
    405: "`method_not_allowed`: the `Allow` header lists the methods of this path.",
    409: "The record is not in a state that allows this (the code says which).",
    413: "`body_too_large`: the request body is over the limit; it was not read.",
    422: "The request was understood but cannot be carried out (the code says why).",
    502: "A system behind this one did not answer as it should.",
    503: "`store_unavailable`: the database did not answer; try again in a moment.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that may answer these refusals, each as an `ErrorBody`."""
    return {s: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[s]} for s in statuses}


#: Every operation may be refused these: a body or parameter that does not validate, a body
#: too large to read (EdgeMiddleware).
_EVERY_OPERATION: tuple[int, ...] = (400, 413)
#: Operations behind the operator token: refused without it (or without OPERATOR_TOKEN), and
#: each reads the database.
_OPERATOR_OPERATION: tuple[int, ...] = (401, 404, 503)


def _documented(status: int) -> dict[str, Any]:
    body = {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
    return {"description": ERROR_DESCRIPTIONS[status], "content": {"application/json": body}}


def document_errors(app: FastAPI) -> None:
    """Make the app's OpenAPI document say which refusals it answers, as `ErrorBody`.

    FastAPI documents a 422 `HTTPValidationError` for every operation with parameters, but
    `on_validation_error` answers 400 `bad_request`: that 422 is replaced by the 400 of every
    operation (a route's own 422, declared with `error_responses`, is kept). Operations with a
    security requirement (the operator token: `rest.require_operator`) get its refusals; the
    others that a route can answer are declared on the route. Schemathesis checks the server
    against this document (tests/test_schemathesis.py).
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorBody"] = ErrorBody.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for path in document.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                generic = responses.get("422", {})
                if "HTTPValidationError" in str(generic.get("content", {})):
                    del responses["422"]
                statuses = _EVERY_OPERATION
                if operation.get("security"):
                    statuses += _OPERATOR_OPERATION
                for status in statuses:
                    responses.setdefault(str(status), _documented(status))
        for unused in ("HTTPValidationError", "ValidationError"):  # in that order
            rest = {k: v for k, v in schemas.items() if k != unused}
            if f'/{unused}"' not in json.dumps([document["paths"], rest]):
                schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def describe(exc: BaseException) -> tuple[str, str]:
    """Return (code, customer-safe message) for any exception; unexpected ones are logged."""
    if isinstance(exc, SmartSupportError):
        return exc.code, exc.public_message
    log.exception("unexpected error", exc_info=exc)
    return "internal_error", PROTOCOL_MESSAGES["internal_error"]


def error_frame(
    code: str, message: str | None = None, conversation_id: str | None = None
) -> ErrorFrame:
    """An error frame for a protocol-level code, with its standard message unless given one."""
    text = message or PROTOCOL_MESSAGES.get(code) or PROTOCOL_MESSAGES["internal_error"]
    return ErrorFrame(code=code, message=text, conversation_id=conversation_id)


def frame_for(exc: BaseException, conversation_id: str | None = None) -> ErrorFrame:
    """The error frame a customer sees for `exc`."""
    code, message = describe(exc)
    return ErrorFrame(code=code, message=message, conversation_id=conversation_id)


def http_error(code: str, message: str | None = None) -> JSONResponse:
    """A JSON error response `{"code", "message"}` with the status that belongs to `code`."""
    text = message or PROTOCOL_MESSAGES.get(code) or PROTOCOL_MESSAGES["internal_error"]
    return JSONResponse({"code": code, "message": text}, status_code=HTTP_STATUS.get(code, 500))


class ApiError(Exception):
    """Raised by REST handlers to answer with a protocol-level code (`http_error`)."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code, self.message = code, message
        super().__init__(code)


class _BodyTooLarge(HTTPException):
    """Raised while a body is read; an HTTP error so that FastAPI's body parsing passes it on."""

    def __init__(self) -> None:
        super().__init__(413)


class EdgeMiddleware:
    """Our outermost HTTP layer (just inside Starlette's own): refuses request bodies over
    `MAX_BODY_BYTES` before reading them (by `Content-Length`, or as soon as a chunked body
    passes the limit), and turns an error no handler answered into a JSON 500 *without*
    re-raising it, so uvicorn keeps the keep-alive connection instead of dropping it
    (Starlette's ServerErrorMiddleware re-raises).
    """

    def __init__(
        self,
        app: Any,
        max_body_bytes: int = MAX_BODY_BYTES,
        larger_bodies: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        #: Paths that take larger bodies (an OpenAPI document), each with its own limit; their
        #: handlers check the operator token before they read the body.
        self.larger_bodies = larger_bodies or {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger_bodies.get(scope.get("path", ""), self.max_body_bytes)
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > limit:
            code = "body_too_large" if declared.isdigit() else "bad_request"
            await http_error(code)(scope, receive, send)
            return
        started = False
        seen = 0

        async def guarded_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except Exception as exc:
            if started:  # too late for an answer; uvicorn closes the connection
                raise
            if isinstance(exc, _BodyTooLarge):
                await http_error("body_too_large")(scope, receive, send)
                return
            code, message = describe(exc)
            await http_error(code, message)(scope, receive, send)


def allowed_methods(request: Request) -> str | None:
    """The `Allow` header of a 405 for this request's path: the methods the OpenAPI document
    lists for it (None for a path it does not have). The web UI's mount at `/` takes every
    path, so a POST endpoint asked with GET is refused by it, and it would say `GET, HEAD`."""
    index: list[tuple[re.Pattern[str], str]] | None = getattr(request.app.state, "allow", None)
    if index is None:
        index = []
        for template, operations in request.app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            methods = {m.upper() for m in operations}
            if "GET" in methods:
                methods.add("HEAD")
            index.append((re.compile(pattern), ", ".join(sorted(methods))))
        request.app.state.allow = index
    path = request.url.path
    return next((methods for pattern, methods in index if pattern.fullmatch(path)), None)


def install_handlers(app: FastAPI, larger_bodies: dict[str, int] | None = None) -> None:
    """Register the exception handlers that turn every error into `{"code", "message"}`.

    `larger_bodies`: paths whose request bodies may exceed `MAX_BODY_BYTES`, with their limits.
    """

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return http_error(exc.code, exc.message)

    async def on_product_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SmartSupportError)
        if isinstance(exc, StoreUnavailable | ApprovalError | ConversationNotFound):
            log.warning("request failed: %s", exc.code)
        else:
            log.error("request failed: %s", exc.code, exc_info=exc)
        return http_error(exc.code, exc.public_message)

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        return http_error("bad_request", f"Invalid request ({fields}).")

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        allow = allowed_methods(request) if status in (404, 405) else None
        if status == 404 and allow is not None and request.method not in allow.split(", "):
            status = 405  # an API path asked with another method; the UI's mount said 404
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "body_too_large",
        }.get(status, "bad_request")
        response = http_error(code)
        response.status_code = status
        if exc.headers:
            response.headers.update(exc.headers)
        if status == 405 and allow is not None:  # RFC 9110: a 405 lists what would work
            response.headers["Allow"] = allow
        return response

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(SmartSupportError, on_product_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_middleware(EdgeMiddleware, larger_bodies=larger_bodies)  # unexpected errors, sizes
    document_errors(app)
