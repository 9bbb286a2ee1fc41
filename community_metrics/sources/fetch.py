"""One metric's fetch over a range of days: which days a source still keeps, what it
answered, and notes on what it could not serve. Plain Python over the clients: no Dagster.

Weeks a source no longer keeps are skipped with the reason in the notes: the stored
observations (seed rows) stay and nothing is zeroed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from community_metrics.catalog import Metric
from community_metrics.sources import downloads as dl
from community_metrics.sources.clients import SourceClients
from community_metrics.sources.github import cumulative_from_gains, cumulative_from_stamps
from community_metrics.sources.http import NotAvailable, SourceError

# Calls in flight per source: the client's rate limiter decides the pace, and a few calls in
# flight keep a distant server's latency from setting it instead (GitHub allows 100).
WORKERS_PER_SOURCE = 4


@dataclass
class Fetch:
    """What one metric's fetch produced."""

    values: dict[dt.date, int] = field(default_factory=dict)
    source_ref: str = ""
    notes: list[str] = field(default_factory=list)


def _kept_window(first: dt.date, last: dt.date, oldest: dt.date, today: dt.date):
    """The part of [first, last] the source still serves (it has nothing for today yet)."""
    start, end = max(first, oldest), min(last, today - dt.timedelta(days=1))
    return (start, end) if start <= end else None


def _skip_note(name: str, first: dt.date, oldest: dt.date) -> str:
    return (
        f"{name} keeps days from {oldest} on: days before that ({first}..) were not fetched; "
        "stored observations are kept"
    )


# Sources that answer with their whole retained window (one call): name and days kept.
RETAINED = {
    "pypistats": ("pypistats", dl.PYPISTATS_DAYS),
    "cratesio": ("crates.io", dl.CRATES_DAYS),
}


def fetch_retained(clients: SourceClients, metric: Metric, first, last, today) -> Fetch:
    """pypistats and crates.io: one call returns every day they keep; keep the range."""
    name, keep_days = RETAINED[metric.source]
    pypi = metric.source == "pypistats"
    client = clients.pypistats if pypi else clients.crates
    options = {"mirrors": metric.mirrors} if pypi else {}
    oldest = today - dt.timedelta(days=keep_days)
    fetch = Fetch(source_ref=client.http.url(client.path(metric.subject)))
    if first < oldest:
        fetch.notes.append(_skip_note(name, first, oldest))
    if window := _kept_window(first, last, oldest, today):
        daily = client.daily(metric.subject, **options)
        fetch.values = {d: v for d, v in daily.items() if window[0] <= d <= window[1]}
    return fetch


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


# Sources whose outages read 0 for every package (pypistats).
ALL_ZERO_IS_OUTAGE = {"pypistats"}
# The fetch of each catalog source.
FETCHERS: dict[str, Callable[..., Fetch]] = {
    "pypistats": fetch_retained,
    "cratesio": fetch_retained,
    "npm": fetch_npm,
    "github": fetch_github,
}


@dataclass
class SourceFetch:
    """What one source's metrics produced: a Fetch per metric that answered, else its error."""

    fetches: dict[str, Fetch] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def fetch_source(
    clients: SourceClients, source: str, metrics: Sequence[Metric], first, last, today
) -> SourceFetch:
    """Every metric of one source over [first, last]: a failing metric does not stop the
    others, and the results keep the catalog's order."""
    fetch = FETCHERS[source]

    def one(metric: Metric):
        try:
            return metric.metric_id, fetch(clients, metric, first, last, today), None
        except (SourceError, httpx.HTTPError) as exc:
            return metric.metric_id, None, str(exc)

    out = SourceFetch()
    # The first metric goes alone: if the source does not answer, its circuit breaker opens
    # after one retry budget and the others fail at once, without a call each.
    with ThreadPoolExecutor(WORKERS_PER_SOURCE, thread_name_prefix=source) as pool:
        results = [one(m) for m in metrics[:1]] + list(pool.map(one, metrics[1:]))
        for metric_id, result, error in results:
            if error is None:
                out.fetches[metric_id] = result
            else:
                out.errors[metric_id] = error
    if source in ALL_ZERO_IS_OUTAGE:
        drop_outage_days(out.fetches)
    return out
