"""The chat server: REST API, the chat WebSocket (`/ws/v1`) and the web UI, served by uvicorn."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from smart_support.errors import ConfigError
from smart_support.settings import Settings, load_settings

if TYPE_CHECKING:
    from smart_support.server.app import create_app

__all__ = ["bind", "create_app", "serve", "uvicorn_config", "worker_app"]

#: The largest WebSocket message uvicorn accepts at all; between the protocol's 16 KiB limit and
#: this, the client gets a `frame_too_large` error frame, beyond it the socket is closed (1009).
WS_MAX_BYTES = 1024 * 1024


def __getattr__(name: str) -> Any:
    # Lazy, so that `python -m smart_support.server.protocol` does not import the app first.
    if name == "create_app":
        from smart_support.server.app import create_app

        return create_app
    raise AttributeError(name)


def uvicorn_config(settings: Settings, *, workers: int = 1, **app_options: object):  # type: ignore[no-untyped-def]
    """A uvicorn Config serving `create_app(settings, **app_options)`; with `workers` above 1,
    one that starts that many processes, each building its app with `worker_app` (uvicorn
    needs an import string to start them)."""
    import uvicorn

    from smart_support.server.app import create_app

    if workers > 1:
        app: Any = "smart_support.server:worker_app"
    else:
        app = create_app(settings, **app_options)  # type: ignore[arg-type]
    return uvicorn.Config(
        app,
        factory=workers > 1,
        workers=workers,
        host=settings.host,
        port=settings.port,
        ws_max_size=WS_MAX_BYTES,
        # Frames are small and many (one per token): compressing them costs more than it saves.
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        log_level="info",
        access_log=False,
        lifespan="on",
    )


@contextmanager
def _shared_metrics() -> Iterator[None]:
    """A folder the workers' metrics share (prometheus-client's multiprocess mode), in their
    environment before they start; removed when they have stopped. One the operator set is
    used as it is."""
    from smart_support.observability.metrics import MULTIPROCESS_ENV

    if os.environ.get(MULTIPROCESS_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="smart-support-metrics-")
    os.environ[MULTIPROCESS_ENV] = folder
    try:
        yield
    finally:
        os.environ.pop(MULTIPROCESS_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)


def worker_app() -> Any:
    """The app of one of `serve --workers N`'s processes: the settings from the environment
    (as the parent read them; --host and --port only matter to the parent, which binds)."""
    from smart_support.server.app import create_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return create_app(load_settings(), tune_gc=True)


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, for `serve`; a port in use is a ConfigError with one line
    that says what to do (instead of uvicorn's log and exit once the engine is open)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not over a live listener
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            reason = "is already in use (another server?): stop it or choose another with --port"
        else:
            reason = f"cannot be used ({exc.strerror or exc})"
        raise ConfigError(f"{host}:{port} {reason}") from None
    return sock


def serve(settings: Settings, sock: socket.socket | None = None, *, workers: int = 1) -> None:
    """Run the chat server until interrupted (`smart-support serve`).

    Args:
        settings: The settings; the server listens on `host`:`port`.
        sock: A socket already bound by `bind` (the demo reserves its port first).
        workers: Server processes sharing the socket (uvicorn's supervisor restarts one that
            dies). Above 1 needs PostgreSQL: the processes share its locks and live events.

    Raises:
        ConfigError: The address cannot be listened on (port in use, unknown host), or several
            workers were asked for on SQLite.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if workers > 1 and not settings.is_postgres:
        raise ConfigError(
            f"--workers {workers} needs PostgreSQL (DATABASE_URL=postgresql://...): a SQLite"
            " database is served by one process; run without --workers"
        )
    sock = sock or bind(settings.host, settings.port)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if workers > 1:
            with _shared_metrics():
                Multiprocess(uvicorn_config(settings, workers=workers), sockets=[sock]).run()
        else:
            uvicorn.Server(uvicorn_config(settings, tune_gc=True)).run(sockets=[sock])
    finally:
        sock.close()
