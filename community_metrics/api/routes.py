"""The read-only endpoints under /api/v1. Plain `def` routes: LanceDB's sync calls run in the
thread pool, never on the event loop. Every answer comes from the current `Snapshot` (or the
search table) through `respond`, which adds the ETag and serves repeats from memory."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, TypeAdapter

from community_metrics import weeks
from community_metrics.api import charts, models
from community_metrics.api.snapshot import Snapshot
from community_metrics.catalog import Metric
from community_metrics.search.core import MAX_LIMIT, SEARCH_MODES, SearchError
from community_metrics.status import RunStatus, is_stale
from community_metrics.store import EMBEDDINGS_TABLE

RUNS = TypeAdapter(list[RunStatus])

MAX_WEEKS = 520
MOVERS = 5
LOOK_BACK = 26  # weeks the dashboard looks back for the newest week with data
NOT_FOUND = {
    404: {
        "description": "unknown metric",
        "content": {"application/json": {"schema": models.Error.model_json_schema()}},
    }
}
# Metric ids (family:product:sdk) and product names, as the catalog allows them.
IDS_PATTERN = r"^[a-z0-9_.:-]+(,[a-z0-9_.:-]+)*$"
PRODUCT_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"

router = APIRouter()


class CSVResponse(Response):
    media_type = "text/csv"


class SVGResponse(Response):
    media_type = "image/svg+xml"


Weeks = Annotated[
    int,
    Query(alias="weeks", ge=1, le=MAX_WEEKS, description="how many weeks, to the latest closed"),
]
MetricId = Annotated[str, Path(description="e.g. downloads:lancedb:python (see /definitions)")]


def _invalid(parameter: str, message: str, where: str = "query") -> RequestValidationError:
    """A 422 in FastAPI's own shape, naming the parameter."""
    return RequestValidationError(
        [{"loc": (where, parameter), "msg": message, "type": "value_error", "input": None}]
    )


class UnknownMetric(Exception):
    def __init__(self, metric_id: str):
        self.metric_id = metric_id


def not_found(_request: Request, exc: UnknownMetric) -> JSONResponse:
    return JSONResponse(
        {"detail": f"unknown metric {exc.metric_id!r}: see /api/v1/definitions for the ids"},
        status_code=404,
    )


def _snapshot(request: Request) -> Snapshot:
    return request.app.state.cm.snapshot()


def _definition(snapshot: Snapshot, metric_id: str) -> Metric:
    definition = snapshot.definitions.get(metric_id)
    if definition is None:
        raise UnknownMetric(metric_id)
    return definition


def _ids(snapshot: Snapshot, raw: str | None) -> list[str]:
    """Comma-separated metric ids, each known; None means every active metric."""
    if raw is None:
        return [m for m, d in snapshot.definitions.items() if d.active]
    ids = list(dict.fromkeys(raw.split(",")))  # the query's pattern allows no empty id
    for metric_id in ids:
        _definition(snapshot, metric_id)
    return ids


def _window(count: int) -> list[dt.date]:
    """The `count` weeks ending with the latest closed one, oldest first."""
    latest = weeks.latest_closed_week()
    return [latest - dt.timedelta(weeks=count - 1 - i) for i in range(count)]


def respond(request: Request, versions: dict, build: Callable[[], bytes], media: str):
    return request.app.state.cm.respond(request, versions, build, media)


def _json(model) -> Callable[[], bytes]:
    return lambda: model().model_dump_json().encode()


def _out(d: Metric) -> models.DefinitionOut:
    return models.DefinitionOut(
        metric_id=d.metric_id,
        product=d.product,
        source=d.source,
        kind=d.family,
        unit=d.unit,
        display_name=d.display_name,
        subject=d.subject,
        sdk=d.sdk,
        active=d.active,
    )


def _iso_date(value):
    """A day as YYYY-MM-DD only: pydantic alone would read `0` as 1970-01-01."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("use a date as YYYY-MM-DD")
    return value


def _int(value: float) -> int | None:
    return None if math.isnan(value) else int(value)


# -- health and definitions ------------------------------------------------------------------


@router.get(
    "/health",
    response_model=models.Health,
    responses={503: {"model": models.Unavailable, "description": "the store cannot be read"}},
)
def health(request: Request):
    """Table versions, the latest closed week, the last successful run and stale metrics."""
    state = request.app.state.cm
    try:
        snapshot = state.snapshot()
        versions = state.store.table_versions()
    except Exception as exc:  # any failure to read the store is the answer here
        return JSONResponse(
            models.Unavailable(
                detail=f"the store cannot be read: {type(exc).__name__}: {exc}"
            ).model_dump(),
            status_code=503,
            headers={"Cache-Control": "no-store"},
        )
    latest = weeks.latest_closed_week()
    today = weeks.today()
    stale = []
    active = [m for m, d in snapshot.definitions.items() if d.active]
    values, _ = snapshot.grid(active, [latest - dt.timedelta(weeks=i) for i in range(2)])
    for metric_id, (this_week, week_before) in zip(active, values, strict=True):
        # older weeks than these two are stale by the rule, whichever they are
        newest = (
            latest
            if not math.isnan(this_week)
            else (None if math.isnan(week_before) else latest - dt.timedelta(weeks=1))
        )
        if is_stale(newest, today):
            stale.append(metric_id)
    run = snapshot.last_success
    body = models.Health(
        status="stale" if stale else "ok",
        storage=state.store.description,
        tables=[models.TableVersion(table=t, version=v) for t, v in versions.items()],
        latest_closed_week=latest,
        last_successful_run=run,
        stale_metrics=stale,
    )
    return Response(
        body.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.get("/definitions", response_model=list[models.DefinitionOut])
def definitions(request: Request):
    """The catalog: every metric with its product, source, kind and unit."""
    snapshot = _snapshot(request)

    def build() -> bytes:
        rows = [_out(d).model_dump(mode="json") for d in snapshot.definitions.values()]
        return models_json(rows)

    return respond(request, snapshot.versions, build, "application/json")


def models_json(value) -> bytes:
    """Compact JSON (orjson: a tenth of the stdlib's time per small dict, which at 1,000
    dashboard cards is most of the encoding)."""
    return orjson.dumps(value)


# -- series ----------------------------------------------------------------------------------


# A week without a stored row: missing (null), never zero.
_MISSING = {field: None for field in models.Point.model_fields} | {"complete": False}


def _points(snapshot: Snapshot, metric_id: str, window: list[dt.date]) -> list[models.Point]:
    """The window's weeks as Points: the stored row's columns (named as Point's fields), or
    a missing week."""
    stored = snapshot.weekly_rows(metric_id, window[0], window[-1]) if window else {}
    fields = [f for f in models.Point.model_fields if f != "week"]
    points = []
    for week in window:
        row = stored.get(week)
        if row is None:
            values = {**_MISSING, "period_end": week + dt.timedelta(days=6)}
        else:
            values = {f: row[f] for f in fields}
        points.append(models.Point(**{**values, "week": week}))
    return points


@router.get("/series/{metric_id}", response_model=models.Series, responses=NOT_FOUND)
def series(request: Request, metric_id: MetricId, weeks_: Weeks = 52):
    """Weekly points of one metric, oldest first; a week without data has value null."""
    snapshot = _snapshot(request)
    definition = _definition(snapshot, metric_id)
    window = _window(weeks_)
    return respond(
        request,
        snapshot.versions,
        _json(
            lambda: models.Series(
                metric=_out(definition), weeks=weeks_, points=_points(snapshot, metric_id, window)
            )
        ),
        "application/json",
    )


@router.get("/compare", response_model=models.Compare, responses=NOT_FOUND)
def compare(
    request: Request,
    ids: Annotated[str, Query(pattern=IDS_PATTERN, description="comma-separated metric ids")],
    weeks_: Weeks = 52,
):
    """Several metrics on one weekly time axis."""
    snapshot = _snapshot(request)
    metric_ids = _ids(snapshot, ids)
    window = _window(weeks_)

    def build() -> models.Compare:
        values, complete = snapshot.grid(metric_ids, window)
        return models.Compare(
            weeks=window,
            series=[
                models.CompareSeries(
                    metric_id=m,
                    display_name=snapshot.definitions[m].display_name,
                    unit=snapshot.definitions[m].unit,
                    values=[_int(v) for v in row],
                    complete=[bool(c) for c in done],
                )
                for m, row, done in zip(metric_ids, values, complete, strict=True)
            ],
        )

    return respond(request, snapshot.versions, _json(build), "application/json")


# -- dashboard -------------------------------------------------------------------------------


def _change(value: float, previous: float) -> tuple[int | None, float | None]:
    if math.isnan(value) or math.isnan(previous):
        return None, None
    pct = round(100.0 * (value - previous) / previous, 2) if previous else None
    return int(value - previous), pct


def _total(name: str, ids: list[str], latest: np.ndarray, previous: np.ndarray) -> dict:
    """A models.Total as a dict."""
    have = ~np.isnan(latest)
    value = int(latest[have].sum()) if have.any() else None
    # the week before over the SAME metrics, so a change never compares different sums
    before = (
        int(previous[have].sum()) if have.any() and not np.isnan(previous[have]).any() else None
    )
    change, pct = _change(
        float(value) if value is not None else math.nan,
        float(before) if before is not None else math.nan,
    )
    return {
        "name": name,
        "value": value,
        "previous": before,
        "change": change,
        "pct_change": pct,
        "metrics": ids,
        "missing": [m for m, ok in zip(ids, have, strict=True) if not ok],
    }


def _optional(values: np.ndarray, cast: Callable = int) -> list:
    """A float column as a list of `cast` values, None where NaN."""
    return [None if math.isnan(v) else cast(v) for v in values.tolist()]


def _cards(snapshot: Snapshot, ids: list[str], values: np.ndarray, complete: np.ndarray):
    """The dashboard's cards (as dicts in models.MetricCard's shape, sparkline left out), and
    its movers, computed per column: at 1,000 metrics a model or a round() per card was most
    of a cold answer."""
    latest, previous = values[:, -1], values[:, -2]
    last4 = values[:, -4:]
    counted = (~np.isnan(last4)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(counted > 0, np.nansum(last4, axis=1) / np.maximum(counted, 1), np.nan)
        pct = np.where(previous != 0, np.round(100.0 * (latest - previous) / previous, 2), np.nan)
    columns = {
        "value": _optional(latest),
        "previous": _optional(previous),
        "change": _optional(latest - previous),
        "pct_change": _optional(pct, float),
        "avg_4w": _optional(np.round(avg, 1), float),
        "complete": complete[:, -1].tolist(),
    }
    cards, movers = [], []
    for i, metric_id in enumerate(ids):
        d = snapshot.definitions[metric_id]
        card = {
            "metric_id": metric_id,
            "display_name": d.display_name,
            "kind": d.family,
            "product": d.product,
            "source": d.source,
            "unit": d.unit,
            **{name: column[i] for name, column in columns.items()},
        }
        cards.append(card)
        if d.family != "stars" and card["pct_change"] is not None:
            movers.append(
                {
                    "metric_id": metric_id,
                    "display_name": d.display_name,
                    "change": card["change"],
                    "pct_change": card["pct_change"],
                }
            )
    movers.sort(key=lambda m: (-abs(m["pct_change"]), m["metric_id"]))
    return cards, movers


def _board(
    snapshot: Snapshot, ids: list[str], newest: dt.date, latest_closed: dt.date
) -> tuple[bytes, list[bytes]]:
    """The dashboard without its sparklines: the JSON object's head (no closing brace) and
    each card's JSON without its closing brace. Plain dicts in the models' shape (the schema
    test holds them to it)."""
    window = [newest - dt.timedelta(weeks=3 - i) for i in range(4)]
    values, complete = snapshot.grid(ids, window)
    latest, previous = values[:, -1], values[:, -2]
    cards, movers = _cards(snapshot, ids, values, complete)
    by_product: dict[str, list[int]] = {}
    stars = []
    for i, metric_id in enumerate(ids):
        d = snapshot.definitions[metric_id]
        (stars if d.family == "stars" else by_product.setdefault(d.product, [])).append(i)

    def total(name: str, rows: list[int]) -> dict:
        return _total(name, [ids[i] for i in rows], latest[rows], previous[rows])

    head = models_json(
        {
            "latest_closed_week": latest_closed,
            "week": window[-1],
            "previous_week": window[-2],
            "products": [total(p, rows) for p, rows in sorted(by_product.items())],
            "total_stars": total("stars", stars),
            "movers": movers[:MOVERS],
        }
    )
    return head[:-1], [models_json(card)[:-1] for card in cards]


@router.get("/dashboard/weekly", response_model=models.Dashboard, responses=NOT_FOUND)
def dashboard(
    request: Request,
    weeks_: Annotated[
        int, Query(alias="weeks", ge=2, le=MAX_WEEKS, description="sparkline length in weeks")
    ] = 12,
    metrics: Annotated[
        str | None,
        Query(pattern=IDS_PATTERN, description="comma-separated metric ids (default: all active)"),
    ] = None,
):
    """Per metric: the latest closed week, the week before, change, 4-week average and a
    sparkline; weekly downloads per product across registries; total stars; the top movers."""
    snapshot = _snapshot(request)
    ids = _ids(snapshot, metrics)

    def build() -> bytes:
        # The newest closed week any of the metrics has (the refresh may not have run yet).
        recent = _window(LOOK_BACK)
        have = ~np.isnan(snapshot.grid(ids, recent)[0]).all(axis=0)
        newest = recent[int(np.flatnonzero(have)[-1])] if have.any() else recent[-1]
        # Cards, totals and movers do not depend on the sparkline's length: computed once
        # per snapshot and selection, then each length only splices in its sparklines.
        head, cards = snapshot.memo(
            ("dashboard", tuple(ids), newest, recent[-1]),
            lambda: _board(snapshot, ids, newest, recent[-1]),
        )
        window = [newest - dt.timedelta(weeks=weeks_ - 1 - i) for i in range(weeks_)]
        metric_cards = b",".join(
            card + b',"sparkline":' + line + b"}"
            for card, line in zip(cards, snapshot.sparklines(ids, window), strict=True)
        )
        return head + b',"weeks":%d,"metrics":[%b]}' % (weeks_, metric_cards)

    return respond(request, snapshot.versions, build, "application/json")


# -- runs and mentions -----------------------------------------------------------------------


@router.get("/history", response_model=list[RunStatus])
def history(
    request: Request,
    status: Annotated[Literal["success", "partial", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
):
    """Runs, newest first, with their errors per metric, seed file or asset."""
    snapshot = _snapshot(request)

    def build() -> bytes:
        runs = [r for r in snapshot.runs if status is None or r.status == status][:limit]
        return RUNS.dump_json(runs)

    return respond(request, snapshot.versions, build, "application/json")


@router.get("/mentions/search", response_model=models.SearchResult)
def search_mentions(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="what to look for")],
    mode: Annotated[Literal[SEARCH_MODES], Query()] = "hybrid",  # type: ignore[valid-type]
    k: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many hits")] = 10,
    product: Annotated[
        str | None, Query(pattern=PRODUCT_PATTERN, description="only mentions of this product")
    ] = None,
    since: Annotated[
        dt.date | None,
        BeforeValidator(_iso_date),
        Query(description="only mentions on or after this day (UTC), YYYY-MM-DD"),
    ] = None,
):
    """Community mentions, best first: semantic, keyword (BM25) or hybrid."""
    state = request.app.state.cm

    def build() -> bytes:
        try:
            hits = state.search.search(
                q, mode, products=[product] if product else (), start=since, limit=k
            )
        except SearchError as exc:
            raise _invalid("q" if "query" in str(exc) else "product", str(exc)) from exc
        return models.SearchResult(query=q, mode=mode, hits=hits).model_dump_json().encode()

    versions = {EMBEDDINGS_TABLE: state.versions()[EMBEDDINGS_TABLE]}
    return respond(request, versions, build, "application/json")


# -- exports, charts and badges ------------------------------------------------------------


def _csv(table: pa.Table) -> bytes:
    """CSV with a header; a missing value is an empty field (pyarrow: 520,000 rows in about
    a second, where the csv module took ten)."""
    out = io.BytesIO()
    pa_csv.write_csv(table, out)
    return out.getvalue()


CSV_DOC = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
SVG_DOC = {200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}}


@router.get(
    "/export/{metric_id}.csv",
    response_class=CSVResponse,
    responses={**CSV_DOC, **NOT_FOUND},
)
def export_metric(request: Request, metric_id: MetricId):
    """Every stored week of one metric as CSV (missing weeks are absent rows)."""
    snapshot = _snapshot(request)
    _definition(snapshot, metric_id)
    build = lambda: _csv(snapshot.export([metric_id]))  # noqa: E731
    return respond(request, snapshot.versions, build, "text/csv")


@router.get("/export.csv", response_class=CSVResponse, responses=CSV_DOC)
def export_all(request: Request):
    """Every stored week of every metric as one CSV."""
    snapshot = _snapshot(request)
    return respond(request, snapshot.versions, lambda: _csv(snapshot.export()), "text/csv")


@router.get(
    "/chart/{metric_id}.svg",
    response_class=SVGResponse,
    responses={**SVG_DOC, **NOT_FOUND},
)
def chart(
    request: Request,
    metric_id: MetricId,
    weeks_: Weeks = 52,
    theme: Annotated[Literal["light", "dark"], Query()] = "light",
    scale: Annotated[Literal["linear", "log"], Query()] = "linear",
    compare: Annotated[
        str | None,
        Query(pattern=IDS_PATTERN, description="more metric ids to draw on the same chart"),
    ] = None,
):
    """An embeddable SVG line chart of one metric (or several with `compare`)."""
    snapshot = _snapshot(request)
    ids = [metric_id, *(_ids(snapshot, compare) if compare else [])]
    ids = list(dict.fromkeys(ids))
    first = _definition(snapshot, metric_id)
    window = _window(weeks_)

    def build() -> bytes:
        values, _ = snapshot.grid(ids, window)
        lines = [
            charts.Series(
                label=snapshot.definitions[m].display_name,
                points=list(zip(window, [_int(v) for v in row], strict=True)),
                unit=snapshot.definitions[m].unit,
            )
            for m, row in zip(ids, values, strict=True)
        ]
        title = first.display_name if len(ids) == 1 else "comparison"
        title = f"{title}: weekly {first.unit}" if len(ids) == 1 else f"weekly {first.unit}"
        return charts.line_chart(lines, title=title, theme=theme, scale=scale).encode()

    return respond(request, snapshot.versions, build, "image/svg+xml")


@router.get(
    "/badge/{metric_id}.svg",
    response_class=SVGResponse,
    responses={**SVG_DOC, **NOT_FOUND},
)
def badge(request: Request, metric_id: MetricId):
    """A shields-style badge with the latest closed week's value."""
    snapshot = _snapshot(request)
    definition = _definition(snapshot, metric_id)
    latest = weeks.latest_closed_week()

    def build() -> bytes:
        (value,), _ = snapshot.grid([metric_id], [latest])
        label = "stars" if definition.family == "stars" else f"{definition.source} downloads/week"
        return charts.badge(label, charts.format_count(_int(value[0]))).encode()

    return respond(request, snapshot.versions, build, "image/svg+xml")
