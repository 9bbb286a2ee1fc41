"""Raw source assets: daily values from the APIs into `observations` (provenance `api`).

Each asset covers its partition range with ONE request per package where the API takes ranges
(O(metrics) requests, not O(metrics x weeks)). Weeks a source no longer keeps are skipped with
the reason in the metadata: the stored observations (seed rows) stay and nothing is zeroed.
A failing metric does not stop the others: what succeeded is written, the error is recorded per
metric in `history`, and the run fails (here, or at the end of weekly_metrics when that asset
runs too, so its weeks are still computed).
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import httpx

from community_metrics.catalog import Metric
from community_metrics.metadata import write_metadata
from community_metrics.partitions import WEEKLY
from community_metrics.resources import MetricsResources
from community_metrics.runs import tracked
from community_metrics.seed.assets import metric_catalog
from community_metrics.sources import downloads as dl
from community_metrics.sources.clients import SourceClients
from community_metrics.sources.github import cumulative_from_gains, cumulative_from_stamps
from community_metrics.sources.http import NotAvailable, SourceError
from community_metrics.store import OBSERVATIONS

GROUP = "sources"
WEEKLY_METRICS = dg.AssetKey("weekly_metrics")


@dataclass
class Fetch:
    """What one metric's fetch produced."""

    values: dict[dt.date, int] = field(default_factory=dict)
    source_ref: str = ""
    notes: list[str] = field(default_factory=list)


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _kept_window(first: dt.date, last: dt.date, oldest: dt.date, today: dt.date):
    """The part of [first, last] the source still serves (it has nothing for today yet)."""
    start, end = max(first, oldest), min(last, today - dt.timedelta(days=1))
    return (start, end) if start <= end else None


def _skip_note(name: str, first: dt.date, oldest: dt.date) -> str:
    return (
        f"{name} keeps days from {oldest} on: days before that ({first}..) were not fetched; "
        "stored observations are kept"
    )


def _fetch_recent(name: str, keep_days: int, source_ref: str, daily, first, last, today) -> Fetch:
    """Sources that answer with their whole retained window: one call, keep the range."""
    oldest = today - dt.timedelta(days=keep_days)
    fetch = Fetch(source_ref=source_ref)
    if first < oldest:
        fetch.notes.append(_skip_note(name, first, oldest))
    if window := _kept_window(first, last, oldest, today):
        fetch.values = {d: v for d, v in daily().items() if window[0] <= d <= window[1]}
    return fetch


def fetch_pypistats(clients: SourceClients, metric: Metric, first, last, today) -> Fetch:
    client = clients.pypistats
    return _fetch_recent(
        "pypistats",
        dl.PYPISTATS_DAYS,
        client.http.url(client.path(metric.subject)),
        lambda: client.daily(metric.subject, mirrors=metric.mirrors),
        first,
        last,
        today,
    )


def fetch_crates(clients: SourceClients, metric: Metric, first, last, today) -> Fetch:
    client = clients.crates
    return _fetch_recent(
        "crates.io",
        dl.CRATES_DAYS,
        client.http.url(client.path(metric.subject)),
        lambda: client.daily(metric.subject),
        first,
        last,
        today,
    )


def fetch_npm(clients: SourceClients, metric: Metric, first, last, today) -> Fetch:
    fetch = Fetch(source_ref=clients.npm.http.url(f"/downloads/range/*/{metric.subject}"))
    if first < dl.NPM_FIRST_DAY:
        fetch.notes.append(_skip_note("npm", first, dl.NPM_FIRST_DAY))
    if window := _kept_window(first, last, dl.NPM_FIRST_DAY, today):
        fetch.values = clients.npm.daily(metric.subject, *window)
    return fetch


def fetch_github(clients: SourceClients, metric: Metric, first, last, today) -> Fetch:
    """Today's snapshot always; past days from the star history, else the starred_at listing."""
    github, repo = clients.github, metric.subject
    fetch = Fetch(source_ref=github.http.url(f"/repos/{repo}"))
    current = github.stargazers_count(repo)
    fetch.values[today] = current
    if first >= today:
        return fetch
    try:
        past = cumulative_from_gains(current, today, github.star_history(repo, first))
        fetch.notes.append("past days from /stargazers/history")
    except NotAvailable as exc:
        fetch.notes.append(f"star history not available ({exc})")
        past = {}
        if github.authenticated:
            try:
                past = cumulative_from_stamps(github.starred_at(repo))
                fetch.notes.append("past days from the starred_at listing")
            except NotAvailable as exc2:
                fetch.notes.append(f"starred_at listing not available ({exc2})")
        if not past:
            fetch.notes.append("only today's snapshot: past weeks keep what is stored")
    fetch.values.update({d: v for d, v in past.items() if first <= d <= last and d < today})
    return fetch


def drop_outage_days(fetches: dict[str, Fetch]) -> list[dt.date]:
    """Days on which every package reports 0: pypistats' sign of a day it has no data for.

    They are removed (missing, not zero). With a single package there is no way to tell.
    """
    if len(fetches) < 2:
        return []
    common = set.intersection(*(set(f.values) for f in fetches.values()))
    outages = sorted(d for d in common if all(f.values[d] == 0 for f in fetches.values()))
    for fetch in fetches.values():
        for day in outages:
            del fetch.values[day]
        if outages:
            fetch.notes.append(f"{len(outages)} day(s) all zero across packages: left missing")
    return outages


def _raw_asset(
    name: str,
    source: str,
    fetcher: Callable[..., Fetch],
    description: str,
    all_zero_is_outage: bool = False,
):
    @dg.asset(
        name=name,
        group_name=GROUP,
        kinds={"lancedb", "api"},
        partitions_def=WEEKLY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[metric_catalog],
        required_resource_keys={"cm"},
        pool="lancedb_observations",
        description=description,
    )
    def _asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        cm: MetricsResources = context.resources.cm
        store = cm.store
        weeks = [dt.date.fromisoformat(k) for k in context.partition_keys]
        first, last = weeks[0], weeks[-1] + dt.timedelta(days=6)
        today = _today()
        metrics = [m for m in cm.catalog().active if m.source == source]
        clients = cm.clients()
        fetches: dict[str, Fetch] = {}
        with tracked(context, store) as outcome:
            now = dt.datetime.now(dt.UTC)
            run_id = context.run.run_id
            try:
                for metric in metrics:
                    try:
                        fetches[metric.metric_id] = fetcher(clients, metric, first, last, today)
                    except (SourceError, httpx.HTTPError) as exc:
                        outcome.errors[metric.metric_id] = str(exc)
                        context.log.error(f"{metric.metric_id}: {exc}")
            finally:
                clients.close()
            if all_zero_is_outage:
                drop_outage_days(fetches)
            rows = [
                {
                    "metric_id": metric_id,
                    "day": day,
                    "value": value,
                    "provenance": "api",
                    "source_ref": fetch.source_ref,
                    "fetched_at": now,
                    "run_id": run_id,
                }
                for metric_id, fetch in fetches.items()
                for day, value in fetch.values.items()
            ]
            result = outcome.add(store.upsert(OBSERVATIONS, rows))
            # UI runs of a subset carry their selection; job runs select what the job holds.
            selection = (
                context.run.asset_selection or context.job_def.asset_layer.selected_asset_keys
            )
            if outcome.errors and WEEKLY_METRICS not in selection:
                raise outcome.failure("source errors", partial=len(outcome.errors) < len(metrics))
        return dg.MaterializeResult(
            metadata={
                **write_metadata(result, store.count_rows(OBSERVATIONS)),
                "requests": dg.MetadataValue.int(sum(clients.requests().values())),
                "days_fetched": dg.MetadataValue.json(
                    {m: len(f.values) for m, f in fetches.items()}
                ),
                "notes": dg.MetadataValue.json({m: f.notes for m, f in fetches.items()}),
                "errors": dg.MetadataValue.json(outcome.errors),
                "first_week": dg.MetadataValue.text(weeks[0].isoformat()),
                "last_week": dg.MetadataValue.text(weeks[-1].isoformat()),
            }
        )

    return _asset


pypi_downloads = _raw_asset(
    "pypi_downloads",
    "pypistats",
    fetch_pypistats,
    "Daily PyPI downloads from pypistats.org.",
    all_zero_is_outage=True,
)
npm_downloads = _raw_asset(
    "npm_downloads", "npm", fetch_npm, "Daily npm downloads from api.npmjs.org."
)
crates_downloads = _raw_asset(
    "crates_downloads", "cratesio", fetch_crates, "Daily crates.io downloads (all versions)."
)
github_stars = _raw_asset(
    "github_stars",
    "github",
    fetch_github,
    "GitHub stars: today's stargazers_count, past days from the star history where it answers.",
)

SOURCE_ASSETS = [pypi_downloads, npm_downloads, crates_downloads, github_stars]
