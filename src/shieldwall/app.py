"""Builds the FastAPI application and mounts the adapters."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shieldwall import __version__
from shieldwall.api import (
    alerts,
    assistance,
    cases,
    collab,
    correlation,
    detection,
    exports,
    identity,
    intel,
    knowledge,
    lifecycle,
    notifications,
    ops,
    search,
    stix,
    taxii,
)
from shieldwall.api.errors import install as install_errors
from shieldwall.api.errors import problem
from shieldwall.api.responses import OrjsonResponse
from shieldwall.config import Settings, get_settings
from shieldwall.jobs.foreground import CountRequests, Foreground
from shieldwall.jobs.schedule import background_jobs
from shieldwall.metrics import REGISTRY, REQUEST_SECONDS
from shieldwall.misp import ROUTERS as MISP_ROUTERS
from shieldwall.runtime import tune_gc
from shieldwall.taxii.views import fallback as taxii_fallback
from shieldwall.taxii.views import router as taxii_router
from shieldwall.web.site import mount as mount_web

log = logging.getLogger("shieldwall.http")


class BodyLimit:
    """Refuses request bodies over the limit with 413, by header and while streaming
    (chunked bodies have no length to check up front)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_big = f"the request body is over the limit of {self.limit // (1024 * 1024)} MiB"
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await problem(413, "Payload too large", too_big, "body")(scope, receive, send)
            return
        seen = 0
        refused = False
        started = False

        async def limited() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    if not started:
                        await problem(413, "Payload too large", too_big, "body")(
                            scope, receive, send
                        )
                    # The application sees the client gone and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; the application's answer is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited, guarded_send)


def _route_template(request: Request) -> str:
    """The matched route with parameters as names, keeping metric labels few."""
    if request.scope.get("route") is None:
        return "unmatched"
    path = request.url.path
    for name, value in request.scope.get("path_params", {}).items():
        path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.ensure_secret_key()
    tune_gc()
    app = FastAPI(
        title="Shieldwall",
        version=__version__,
        description="Collective cyber-defence platform: intelligence sharing with exact access control.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        default_response_class=OrjsonResponse,
        lifespan=background_jobs,
    )
    install_errors(app)
    app.include_router(ops.health)
    for module in (
        identity,
        intel,
        search,
        ops,
        collab,
        knowledge,
        correlation,
        lifecycle,
        exports,
        stix,
        taxii,
        detection,
        alerts,
        cases,
        assistance,
        notifications,
    ):
        app.include_router(module.router, prefix="/api/v1")
    for misp_router in MISP_ROUTERS:
        app.include_router(misp_router)
    app.include_router(taxii_router)
    app.include_router(taxii_fallback)

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid[:64]
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled error", extra={"request_id": rid, "path": request.url.path})
            response = problem(
                500,
                "Internal error",
                "an unexpected error occurred; it has been logged",
                request_id=rid,
            )
        response.headers["X-Request-ID"] = rid
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if not request.url.path.startswith("/api/docs"):
            response.headers.setdefault(
                "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"
            )
        REQUEST_SECONDS.labels(
            request.method, _route_template(request), str(response.status_code)
        ).observe(time.perf_counter() - start)
        log.info(
            "%s %s %s",
            request.method,
            request.url.path,
            response.status_code,
            extra={"request_id": rid, "ms": round((time.perf_counter() - start) * 1000, 2)},
        )
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    def root(request: Request) -> Any:
        # Browsers go to the web interface; scripts get what is served where.
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/ui/", status_code=307)
        return {
            "name": "Shieldwall",
            "version": __version__,
            "api": "/api/v1",
            "docs": "/api/docs",
            "ui": "/ui/",
        }

    mount_web(app)

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    # Outermost: a request counts from its first byte to its answer's last, and the jobs in
    # this process yield to it (jobs/foreground.py).
    app.state.foreground = Foreground()
    app.add_middleware(CountRequests, foreground=app.state.foreground)
    return app
