"""The FastAPI application: REST, the chat WebSocket, the web UI, the approval sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders

from smart_support import escalation
from smart_support.errors import SmartSupportError
from smart_support.observability import Limits, configure_logging, metrics, tracing
from smart_support.redaction import Redactor
from smart_support.runtime.activation import activate_accepted
from smart_support.runtime.engine import Engine
from smart_support.runtime.retention import apply_retention
from smart_support.server import demo, import_drafts, import_jobs, imports, operator_ws, rest, ws
from smart_support.server.analytics import router as analytics_router
from smart_support.server.errors import install_handlers
from smart_support.server.people import people_router
from smart_support.server.webhooks import router as webhooks_router
from smart_support.settings import Settings

log = logging.getLogger("smart_support.server")

#: Where `npm run build` in web/ puts the UI.
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: How long shutdown waits for running turns to be stored.
DRAIN_SECONDS = 10.0

_NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Smart Support</title>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto">
<h1>Smart Support</h1><p>The server is running, but the web UI is not built.
Run <code>make web</code> (needs Node 20) and reload. The API is documented at
<a href="/docs">/docs</a>; the chat protocol at <code>/ws/v1</code>.</p></body></html>"""


#: The web UI loads nothing from elsewhere: no remote scripts, styles or images (model text could
#: otherwise smuggle in a tracking pixel), and it talks only to this server.
_CSP_BASE = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'"
)
#: Everything but the app page: no page may frame it (no clickjacking of the API or assets).
CSP = f"{_CSP_BASE}; frame-ancestors 'none'"
_NO_CSP = ("/docs", "/redoc")  # FastAPI's docs pages load their assets from a CDN
#: The chat page, which embed.js frames on the sites of ALLOWED_ORIGINS (docs/embedding.md).
_APP_PAGES = ("/", "/index.html")
#: An origin as CSP may list it: scheme://host[:port], nothing that could end the directive.
_ORIGIN = re.compile(
    r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$"
)


def frameable_csp(allowed_origins: list[str]) -> str:
    """The app page's CSP: framed by this server's own pages and by ALLOWED_ORIGINS only.

    An entry that is not a bare origin (a path, a wildcard, a space or `;`) is left out rather
    than let it widen or break the policy; settings loading does not check them.
    """
    origins = [o.strip().rstrip("/") for o in allowed_origins]
    listed = [o for o in dict.fromkeys(origins) if _ORIGIN.match(o)]
    ancestors = " ".join(["'self'", *listed])
    return f"{_CSP_BASE}; frame-ancestors {ancestors}"


class _SecurityHeaders:
    """Headers on every HTTP answer, error answers of `EdgeMiddleware` included (plain ASGI:
    Starlette's BaseHTTPMiddleware would turn an error raised while reading a body into 400)."""

    def __init__(self, app: Any, allowed_origins: list[str] | None = None) -> None:
        self.app = app
        self.app_csp = frameable_csp(allowed_origins or [])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        csp = None if path.startswith(_NO_CSP) else self.app_csp if path in _APP_PAGES else CSP

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if csp is not None:
                    headers.setdefault("Content-Security-Policy", csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: Held by the one process that sweeps at a time (several server processes on PostgreSQL).
SWEEPER_LOCK = "smart-support:sweeper"


async def _sweep(engine: Engine, interval: float) -> None:
    """Expire approvals past their deadline, close idle conversations
    (`CONVERSATION_IDLE_SECONDS`) and delete old closed ones (`RETENTION_DAYS`, a few batches
    a sweep) every `interval` seconds, whatever goes wrong. With several server processes on
    one PostgreSQL database each sweep runs in one of them (`Store.singleton`): a customer is
    told once that an approval expired, not once per process.

    A database outage fails every sweep until it ends: that is logged as one line when the
    sweeps start failing and one when they work again, not a traceback every `interval`. An
    error that is not the store's gets its traceback once, for the same reason.
    """
    failing_since: float | None = None
    failures = 0
    while True:
        await asyncio.sleep(interval)
        try:
            async with engine.store.singleton(SWEEPER_LOCK) as ours:
                if not ours:  # another server process on this database sweeps now
                    continue
                expired = await engine.expire_due()
                closed = await engine.close_idle()
                await apply_retention(engine.store, engine.graph.checkpointer, engine.settings)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            if failing_since is None:
                failing_since = time.monotonic()
                if isinstance(exc, SmartSupportError):
                    log.warning(
                        "approval expiry sweeps are failing (%s); retrying every %.1fs",
                        exc.code,
                        interval,
                    )
                else:
                    log.exception(
                        "approval expiry sweeps are failing; retrying every %.1fs", interval
                    )
            continue
        if failing_since is not None:
            log.info(
                "approval expiry sweeps work again after %d failed attempts (%.0fs)",
                failures,
                time.monotonic() - failing_since,
            )
            failing_since, failures = None, 0
        if expired:
            metrics.APPROVALS.labels("expired").inc(expired)
            log.info("expired %d approval(s)", expired)
        if closed:
            log.info("closed %d idle conversation(s)", closed)


def _tune_gc() -> None:
    """Garbage-collector settings for a serving process (measured in bench/ws_concurrency.py:
    p99 added latency at 500 conversations 188 ms -> 50 ms).

    What start-up loaded (models, graphs, libraries) lives as long as the process: freezing it
    keeps it out of the full passes that otherwise stall every conversation for ~100 ms now and
    then. A turn allocates many short-lived objects: collecting the young generation every
    20,000 allocations instead of 700 runs it a few times per turn instead of dozens.
    Process-wide, so only the real server (`serve`) asks for it, not apps built in tests.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    model: Any = None,
    router_model: Any = None,
    sweep_interval_seconds: float = 5.0,
    static_dir: Path | None = None,
    tune_gc: bool = False,
) -> FastAPI:
    """Build the app.

    Args:
        settings: The settings, read once.
        engine: An engine opened by the caller (in the same event loop); the app then neither
            opens nor closes it. When None, the lifespan opens one with `Engine.open(settings)`.
        model: A chat model to inject into the engine the app opens (tests, benchmarks).
        router_model: A chat model for routing, likewise (defaults to `model`).
        sweep_interval_seconds: How often pending approvals past their expiry are cancelled.
        static_dir: The built web UI; `server/static` by default.
        tune_gc: Tune the garbage collector for serving once started (process-wide).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(tracing.running(settings))  # OTEL_*; flushed last
            if engine is None:
                opened = await stack.enter_async_context(
                    Engine.open(settings, model=model, router_model=router_model)
                )
            else:
                opened = engine
            app.state.engine = opened
            try:  # the accepted imports' agents, live again (each failure is logged)
                await activate_accepted(opened)
            except Exception:  # the store, say: the server still serves the base agents
                log.exception("accepted imports were not activated")
            app.state.tasks = ws.TaskGroup()
            jobs = import_jobs.running(
                opened.store,
                imports.runner(opened, settings),
                # several servers may share PostgreSQL: only jobs whose server died are resumed
                stale_seconds=import_jobs.STALE_SECONDS if settings.is_postgres else None,
            )
            app.state.import_jobs = await stack.enter_async_context(jobs)
            deliveries = escalation.running(opened.store, settings)  # WEBHOOK_URLS' worker
            app.state.webhooks = await stack.enter_async_context(deliveries)
            sweeper = asyncio.create_task(_sweep(opened, sweep_interval_seconds), name="sweeper")
            log.info("chat server ready (%s)", opened.model_label)
            if tune_gc:
                _tune_gc()
            try:
                yield
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
                await app.state.tasks.drain(DRAIN_SECONDS)

    app = FastAPI(
        title="Smart Support",
        summary="AI customer support that acts, safely.",
        version="1",
        lifespan=lifespan,
    )
    configure_logging(settings)  # LOG_LEVEL, LOG_FORMAT
    app.state.settings = settings
    app.state.redactor = Redactor.from_settings(settings)
    app.state.limits = Limits.from_settings(settings)  # in memory, this process's only
    install_handlers(app, larger_bodies={imports.PATH: imports.MAX_IMPORT_BODY_BYTES})
    # Outermost: also on the answers of the edge layer.
    app.add_middleware(_SecurityHeaders, allowed_origins=settings.allowed_origins)
    app.include_router(rest.router)
    app.include_router(analytics_router)
    app.include_router(webhooks_router)
    app.include_router(people_router(settings))  # checks SUPPORT_HOURS at start
    app.include_router(imports.router)
    app.include_router(import_drafts.router)
    app.include_router(import_jobs.router)
    app.include_router(demo.router)
    app.include_router(ws.router)
    app.include_router(operator_ws.router)

    ui = static_dir or STATIC_DIR
    if (ui / "console.html").is_file():  # the operator console (web/console.html)

        @app.get("/console", include_in_schema=False)
        async def console() -> FileResponse:
            return FileResponse(ui / "console.html")

    if (ui / "index.html").is_file():
        app.mount("/", StaticFiles(directory=ui, html=True), name="web")
    else:

        @app.get("/", include_in_schema=False)
        async def not_built() -> HTMLResponse:
            return HTMLResponse(_NOT_BUILT)

    return app
