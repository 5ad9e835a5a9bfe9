"""The chat server: REST API, the chat WebSocket (`/ws/v1`) and the web UI, served by uvicorn."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from smart_support.settings import Settings

if TYPE_CHECKING:
    from smart_support.server.app import create_app

__all__ = ["create_app", "serve", "uvicorn_config"]

#: The largest WebSocket message uvicorn accepts at all; between the protocol's 16 KiB limit and
#: this, the client gets a `frame_too_large` error frame, beyond it the socket is closed (1009).
WS_MAX_BYTES = 1024 * 1024


def __getattr__(name: str) -> Any:
    # Lazy, so that `python -m smart_support.server.protocol` does not import the app first.
    if name == "create_app":
        from smart_support.server.app import create_app

        return create_app
    raise AttributeError(name)


def uvicorn_config(settings: Settings, **app_options: object):  # type: ignore[no-untyped-def]
    """A uvicorn Config serving `create_app(settings, **app_options)`."""
    import uvicorn

    from smart_support.server.app import create_app

    return uvicorn.Config(
        create_app(settings, **app_options),  # type: ignore[arg-type]
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


def serve(settings: Settings) -> None:
    """Run the chat server until interrupted (`smart-support serve`)."""
    import uvicorn

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.Server(uvicorn_config(settings, tune_gc=True)).run()
