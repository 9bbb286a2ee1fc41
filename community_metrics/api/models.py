"""The API's response models and OpenAPI schema. Payloads the CLI shares (a run, a search
hit) are the dataclasses of `status` and `search.core` themselves, not copies."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from community_metrics.search.core import Hit
from community_metrics.status import RunStatus


class Error(BaseModel):
    detail: str


class TableVersion(BaseModel):
    table: str
    version: int | None = Field(description="None: the table has not been created yet")


class Health(BaseModel):
    status: str = Field(description="ok, or stale when an active metric has no recent week")
    storage: str
    tables: list[TableVersion]
    latest_closed_week: dt.date
    last_successful_run: RunStatus | None
    stale_metrics: list[str] = Field(description="active metrics with no new week for > 8 days")


class Unavailable(BaseModel):
    status: str = "unavailable"
    detail: str


class DefinitionOut(BaseModel):
    metric_id: str
    product: str
    source: str
    kind: str = Field(description="the metric family: downloads | stars")
    unit: str
    display_name: str
    subject: str
    sdk: str
    active: bool


class Point(BaseModel):
    week: dt.date = Field(description="the week's Monday (UTC)")
    period_end: dt.date
    value: int | None = Field(description="None: no data for this week (never a zero)")
    complete: bool = Field(
        description="downloads: all 7 days observed; stars: observed in the week, not carried"
    )
    days_observed: int | None
    is_carried_forward: bool | None
    observed_on: dt.date | None
    provenance: str | None = Field(description="api | csv_seed | api+csv_seed")
    recomputed: bool | None = Field(description="the value was revised by a later run")
    previous_value: int | None


class Series(BaseModel):
    metric: DefinitionOut
    weeks: int
    points: list[Point]


class CompareSeries(BaseModel):
    metric_id: str
    display_name: str
    unit: str
    values: list[int | None]
    complete: list[bool]


class Compare(BaseModel):
    weeks: list[dt.date] = Field(description="the shared axis: each week's Monday")
    series: list[CompareSeries]


class MetricCard(BaseModel):
    metric_id: str
    display_name: str
    kind: str
    product: str
    source: str
    unit: str
    value: int | None = Field(description="the latest closed week")
    previous: int | None = Field(description="the week before")
    change: int | None
    pct_change: float | None
    avg_4w: float | None = Field(description="mean of the last 4 weeks that have data")
    complete: bool
    sparkline: list[int | None]


class Total(BaseModel):
    name: str
    value: int | None = Field(description="sum over the metrics that have the week")
    previous: int | None
    change: int | None
    pct_change: float | None
    metrics: list[str]
    missing: list[str] = Field(description="metrics without the week, left out of the sum")


class Mover(BaseModel):
    metric_id: str
    display_name: str
    change: int
    pct_change: float


class Dashboard(BaseModel):
    latest_closed_week: dt.date
    week: dt.date = Field(
        description="the newest closed week (Monday) with data for any of the metrics; "
        "the latest closed week if none has any"
    )
    previous_week: dt.date
    weeks: int
    metrics: list[MetricCard]
    products: list[Total] = Field(description="weekly downloads per product, all registries")
    total_stars: Total
    movers: list[Mover] = Field(description="largest weekly changes in downloads, by % change")


class SearchResult(BaseModel):
    query: str
    mode: str
    hits: list[Hit]
