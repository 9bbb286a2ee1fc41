"""The read-only HTTP API and dashboard: `create_app(settings)`, or `uvicorn
community_metrics.api:app` (settings from the environment). No Dagster, and no write path:
it holds only a `StoreReader`, opened in enterprise mode with the read-only key."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from importlib.resources import files

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pyrate_limiter import InMemoryBucket, Rate, RateItem

from community_metrics import weeks
from community_metrics.api.routes import UnknownMetric, not_found, router
from community_metrics.api.snapshot import SNAPSHOT_TABLES, Snapshot, Snapshots
from community_metrics.config import ConfigError, Settings, get_settings
from community_metrics.search.core import MentionSearch
from community_metrics.store import EMBEDDINGS_TABLE, StoreReader

PREFIX = "/api/v1"
STATIC = files("community_metrics.api") / "static"
CACHE_CONTROL = "public, max-age=60"
CACHED_RESPONSES = 4096
CLIENTS_TRACKED = 10_000
SERVED_TABLES = (*SNAPSHOT_TABLES, EMBEDDINGS_TABLE)


def open_reader(settings: Settings) -> StoreReader:
    """The API's reader: in enterprise mode with CM_LANCEDB_READ_API_KEY only."""
    if settings.storage_mode != "enterprise":
        return StoreReader.connect(settings)
    if not settings.lancedb_read_api_key:
        raise ConfigError(
            "the API reads LanceDB Enterprise with a read-only key and never holds the write "
            "key: set CM_LANCEDB_READ_API_KEY (and leave CM_LANCEDB_API_KEY to the pipeline)."
        )
    return StoreReader.connect(settings, api_key=settings.lancedb_read_api_key)


class ApiState:
    """Per app: the reader, its snapshots, the mention search and the response cache."""

    def __init__(self, settings: Settings, store: StoreReader):
        self.settings = settings
        self.store = store
        self.snapshots = Snapshots(store, SERVED_TABLES, settings.api.refresh_seconds)
        self.search = MentionSearch(store, settings.embedder)
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def versions(self) -> dict[str, int | None]:
        """The served tables' versions, as last checked."""
        return self.snapshots.versions()

    def snapshot(self) -> Snapshot:
        return self.snapshots.current()

    def respond(
        self,
        request: Request,
        versions: dict[str, int | None],
        build: Callable[[], bytes],
        media: str,
    ) -> Response:
        """The body for this URL built from data at these table versions: 304 when the client
        has it, from memory when built before, else built once and kept."""
        key = json.dumps(
            [
                sorted(versions.items()),
                weeks.latest_closed_week().isoformat(),  # a week closing moves every window
                request.url.path,
                sorted(request.query_params.multi_items()),
            ]
        )
        etag = '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        wanted = {
            t.strip().removeprefix("W/")
            for t in request.headers.get("if-none-match", "").split(",")
        }
        if etag in wanted or "*" in wanted:
            return Response(status_code=304, headers=headers)
        with self._lock:
            body = self._cache.get(etag)
            if body is not None:
                self._cache.move_to_end(etag)
        if body is None:
            body = build()
            with self._lock:
                self._cache[etag] = body
                while len(self._cache) > CACHED_RESPONSES:
                    self._cache.popitem(last=False)
        return Response(body, media_type=media, headers=headers)


class ClientLimits:
    """Requests per minute per client address (pyrate-limiter buckets, oldest clients
    forgotten first)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._buckets: OrderedDict[str, InMemoryBucket] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """None when the request may go ahead, else the seconds to wait."""
        now = int(time.monotonic() * 1000)
        with self._lock:
            bucket = self._buckets.pop(client, None) or InMemoryBucket(
                [Rate(self.per_minute, 60_000)]
            )
            self._buckets[client] = bucket
            while len(self._buckets) > CLIENTS_TRACKED:
                self._buckets.popitem(last=False)
            item = RateItem(client, now)
            bucket.leak(now)
            if bucket.put(item):
                return None
            return max(1, math.ceil(bucket.waiting(item) / 1000))


class RateLimit:
    """ASGI middleware: 429 with Retry-After once a client passes its limit (a plain ASGI
    wrapper, not BaseHTTPMiddleware, so an allowed request costs one dict lookup)."""

    def __init__(self, app, limits: ClientLimits):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        client = scope.get("client")
        if scope["type"] == "http" and client:
            wait = self.limits.retry_after(client[0])
            if wait is not None:
                refused = JSONResponse(
                    {"detail": f"too many requests: at most {self.limits.per_minute} a minute"},
                    status_code=429,
                    headers={"Retry-After": str(wait)},
                )
                return await refused(scope, receive, send)
        return await self.app(scope, receive, send)


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 body plus one line naming the parameter and what is wrong."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("request",), "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"][1:]) or str(first["loc"][0])
    detail = [
        {"loc": list(e["loc"]), "msg": e["msg"], "type": e.get("type", "value_error")}
        for e in errors
    ]
    return JSONResponse(
        {"detail": detail, "message": f"parameter {where!r}: {first['msg']}"}, status_code=422
    )


def create_app(settings: Settings, store: StoreReader | None = None) -> FastAPI:
    """The API over a reader (default: opened from settings, read-only key in enterprise)."""
    state = ApiState(settings, store or open_reader(settings))
    app = FastAPI(
        title="community-metrics",
        version="1",
        description="Weekly open-source adoption metrics (downloads, stars) and community "
        "mentions, read-only. A week runs Monday to Sunday (UTC); a missing week is null.",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.cm = state
    app.include_router(
        router,
        prefix=PREFIX,
        responses={
            304: {"description": "not modified (If-None-Match matched the ETag)"},
            429: {"description": "too many requests: wait Retry-After seconds"},
        },
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(UnknownMetric, not_found)
    if settings.api.rate_limit_per_minute:
        app.add_middleware(RateLimit, limits=ClientLimits(settings.api.rate_limit_per_minute))
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.api.cors_origins),
            allow_methods=["GET"],
            allow_headers=["If-None-Match"],
            expose_headers=["ETag", "Retry-After"],
        )
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    return app


def __getattr__(name: str):
    """`community_metrics.api:app` for uvicorn: built on first access, from the environment."""
    if name == "app":
        app = create_app(get_settings())
        globals()["app"] = app
        return app
    raise AttributeError(name)
