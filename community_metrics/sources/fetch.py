"""One source's metrics over a range of days: which days each source covers, what it answered,
and notes on what it could not serve. Plain Python over the clients: no Dagster.

Coverage, not absence, decides missing versus zero. pypistats and crates.io leave out the days
a package had no downloads, and npm reports its own outages as 0 for every package, so each
source's coverage (the days it has data for) is learnt from a canary, a package downloaded
every day, asked beside the catalog: within coverage a day without a row is 0; a day outside
it, or one the canary reads as 0, is missing; a package's series starts at its first download
in the answer. Without a canary (or if it fails) days are kept as the source reported them.

PyPI: pypistats is the routine source; the days it does not keep (older than 180 days) or could
not serve come from ClickPy, one query for every PyPI metric; where both cover a day the
routine figure is stored and the other's is compared (`SourceFetch.comparisons`). The catalog
can make ClickPy the routine source. Stars: today's stargazers_count, past days from GitHub's
star history, else the events archive (one query for every repository that needs it), else the
starred_at listing. Each value keeps the name of the source that produced it (provenance).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from community_metrics.catalog import Metric
from community_metrics.sources import downloads as dl
from community_metrics.sources.clickhouse import CLICKPY_FIRST_DAY, ArchiveDays, normalize_project
from community_metrics.sources.clients import SourceClients
from community_metrics.sources.github import (
    cumulative_from_gains,
    cumulative_from_stamps,
    totals_before,
)
from community_metrics.sources.http import NotAvailable, SourceError

# Calls in flight per source: the client's rate limiter decides the pace, and a few calls in
# flight keep a distant server's latency from setting it instead (GitHub allows 100).
WORKERS_PER_SOURCE = 4
DAY = dt.timedelta(days=1)
FAILURES = (SourceError, httpx.HTTPError)


@dataclass
class Fetch:
    """What one metric's fetch produced: values by day, and which source gave each."""

    values: dict[dt.date, int] = field(default_factory=dict)
    source_ref: str = ""
    notes: list[str] = field(default_factory=list)
    provenance: dict[dt.date, str] = field(default_factory=dict)
    refs: dict[dt.date, str] = field(default_factory=dict)  # day -> the public URL asked

    def put(self, values: dict[dt.date, int], provenance: str, ref: str) -> None:
        self.values.update(values)
        self.provenance.update(dict.fromkeys(values, provenance))
        self.refs.update(dict.fromkeys(values, ref))

    def ref(self, day: dt.date) -> str:
        return self.refs.get(day, self.source_ref)


@dataclass
class SourceFetch:
    """One source's metrics: a Fetch per metric that answered, the errors of those that did
    not (a metric may have both: the days it got, and why others are missing), and where two
    sources covered the same days, how their figures compare."""

    fetches: dict[str, Fetch] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    comparisons: dict[str, dict] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)  # archive -> HTTP requests made


def _kept_window(first: dt.date, last: dt.date, oldest: dt.date, today: dt.date):
    """The part of [first, last] the source still serves (it has nothing for today yet)."""
    start, end = max(first, oldest), min(last, today - DAY)
    return (start, end) if start <= end else None


def _days(window) -> list[dt.date]:
    return [window[0] + DAY * i for i in range((window[1] - window[0]).days + 1)]


def covered(
    reported: dict[dt.date, int],
    coverage: set[dt.date] | None,
    window,
    source: str,
    notes,
    since: dt.date | None = None,
) -> dict[dt.date, int]:
    """A package's days in `window` read against its source's coverage (see the module doc).

    The series starts at the first download in the whole answer or `since` (the first stored
    one), whichever is earlier. `coverage` None: unknown, the days are kept as reported."""
    inside = {d: v for d, v in reported.items() if window[0] <= d <= window[1]}
    if coverage is None:
        return inside
    firsts = [d for d, v in reported.items() if v > 0] + ([since] if since else [])
    if not firsts or min(firsts) > window[1]:
        notes.append(f"{source}: no download yet by {window[1]}: left missing")
        return {}
    out, outside = {}, 0
    for day in _days((max(window[0], min(firsts)), window[1])):
        value = inside.get(day)
        if day in coverage:
            out[day] = value or 0
        elif value:  # a figure is a figure, even on a day the canary lacks
            out[day] = value
        else:
            outside += 1
    if outside:
        notes.append(
            f"{source}: {outside} day(s) outside its coverage (its canary read nothing): "
            "left missing"
        )
    return out


def _coverage(daily: dict[dt.date, int]) -> set[dt.date]:
    return {d for d, v in daily.items() if v > 0}


def _canary(name: str | None, ask: Callable[[str], dict], source: str, notes: list[str]):
    """The canary's covered days, or None (no canary, or it failed: noted)."""
    if not name:
        return None
    try:
        return _coverage(ask(name))
    except FAILURES as exc:
        notes.append(f"{source} coverage unknown (canary {name!r} failed: {exc})")
        return None


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


def _each(metrics: Sequence[Metric], source: str, one) -> list[tuple[Metric, object, str | None]]:
    """`one(metric)` for every metric, a few at a time; the first goes alone so that a dead
    source opens its circuit breaker after one retry budget and the others fail at once."""

    def call(metric: Metric):
        try:
            return metric, one(metric), None
        except FAILURES as exc:
            return metric, None, str(exc)

    with ThreadPoolExecutor(WORKERS_PER_SOURCE, thread_name_prefix=source) as pool:
        return [call(m) for m in metrics[:1]] + list(pool.map(call, metrics[1:]))


def fetch_retained(
    clients: SourceClients, source: str, metrics, first, last, today, canary, started
):
    """pypistats and crates.io: one call returns every day they keep; keep the range."""
    name, keep_days = RETAINED[source]
    pypi = source == "pypistats"
    client = clients.pypistats if pypi else clients.crates
    oldest = today - dt.timedelta(days=keep_days)
    window = _kept_window(first, last, oldest, today)
    common: list[str] = []
    coverage = None
    if window:
        coverage = _canary(canary, client.daily, name, common)

    def one(metric: Metric) -> Fetch:
        ref = client.http.url(client.path(metric.subject))
        fetch = Fetch(source_ref=ref, notes=list(common))
        if first < oldest:
            fetch.notes.append(_skip_note(name, first, oldest))
        if window:
            options = {"mirrors": metric.mirrors} if pypi else {}
            daily = client.daily(metric.subject, **options)
            values = covered(
                daily, coverage, window, name, fetch.notes, started.get(metric.metric_id)
            )
            fetch.put(values, source, ref)
        return fetch

    return _each(metrics, source, one), window


def fetch_npm(clients: SourceClients, metrics, first, last, today, canary, started):
    window = _kept_window(first, last, dl.NPM_FIRST_DAY, today)
    common: list[str] = []
    coverage = None
    if window:
        coverage = _canary(canary, lambda n: clients.npm.daily(n, *window), "npm", common)

    def one(metric: Metric) -> Fetch:
        ref = clients.npm.http.url(f"/downloads/range/*/{metric.subject}")
        fetch = Fetch(source_ref=ref, notes=list(common))
        if first < dl.NPM_FIRST_DAY:
            fetch.notes.append(_skip_note("npm", first, dl.NPM_FIRST_DAY))
        if window:
            daily = clients.npm.daily(metric.subject, *window)
            since = started.get(metric.metric_id)
            fetch.put(covered(daily, coverage, window, "npm", fetch.notes, since), "npm", ref)
        return fetch

    return _each(metrics, "npm", one), window


def _clickpy(clients: SourceClients, metrics, first, last, today) -> ArchiveDays:
    return clients.clickpy.daily([m.subject for m in metrics], first, min(last, today - DAY))


def fetch_pypi(clients: SourceClients, metrics, first, last, today, routine: str, canary, started):
    """PyPI metrics from pypistats and ClickPy (module doc); the ClickPy query runs while
    pypistats is asked."""
    out = SourceFetch()
    archive: Future | None = None
    with ThreadPoolExecutor(1, thread_name_prefix="clickpy") as pool:
        if clients.clickpy is not None and metrics:
            archive = pool.submit(_clickpy, clients, metrics, first, last, today)
        served = None
        if routine == "pypistats":
            results, served = fetch_retained(
                clients, "pypistats", metrics, first, last, today, canary, started
            )
            for metric, fetch, error in results:
                out.fetches[metric.metric_id] = fetch or Fetch()
                if error:
                    out.fetches[metric.metric_id].notes.append(f"pypistats failed: {error}")
                    out.errors[metric.metric_id] = error
        else:
            for metric in metrics:
                out.fetches[metric.metric_id] = Fetch(notes=["clickpy is the routine source"])
        answer, failure = None, None
        if archive is not None:
            try:
                answer = archive.result()
            except FAILURES as exc:
                failure = str(exc)
    if clients.clickpy is not None:
        out.requests["clickpy"] = clients.clickpy.clickhouse.http.requests
    span = (max(first, CLICKPY_FIRST_DAY), min(last, today - DAY))
    span = span if span[0] <= span[1] else None
    for metric in metrics:
        fetch = out.fetches[metric.metric_id]
        routine_error = out.errors.pop(metric.metric_id, None)
        own = set(fetch.values)  # the days the routine source gave
        needed = [d for d in _days(span) if d not in own] if span else []
        if clients.clickpy is None:
            if routine == "clickpy":
                out.errors[metric.metric_id] = (
                    "clickpy is the catalog's routine PyPI source but CM_CLICKPY_URL is empty: "
                    "set it, or remove pypi_routine_source from the catalog's [settings]"
                )
            elif routine_error:
                out.errors[metric.metric_id] = routine_error
            continue
        if failure is not None:
            fetch.notes.append(failure)
            if needed:  # days only ClickPy could give are missing: an error, named
                out.errors[metric.metric_id] = "; ".join(filter(None, [routine_error, failure]))
            continue
        if span is None:
            if routine_error:
                out.errors[metric.metric_id] = routine_error
            continue
        mine = answer.rows.get(normalize_project(metric.subject), {})
        daily = {d: both[0 if metric.mirrors else 1] for d, both in mine.items()}
        coverage = _coverage(answer.canary) if clients.clickpy.canary else None
        since = started.get(metric.metric_id)
        values = covered(daily, coverage, span, "clickpy", fetch.notes, since)
        fill = {d: v for d, v in values.items() if d not in own}
        if routine_error:
            fetch.notes.append(f"{len(fill)} day(s) from ClickPy instead")
            if set(needed) - set(fill):  # days neither source gave: the error stands
                out.errors[metric.metric_id] = routine_error
        fetch.put(fill, "clickpy", clients.clickpy.clickhouse.http.url("/"))
        overlap = sorted(own & set(values))
        if overlap:
            routine_sum = sum(fetch.values[d] for d in overlap)
            other_sum = sum(values[d] for d in overlap)
            top = max(routine_sum, other_sum)
            out.comparisons[metric.metric_id] = {
                "routine": "pypistats",
                "other": "clickpy",
                "days": len(overlap),
                "first_day": overlap[0].isoformat(),
                "last_day": overlap[-1].isoformat(),
                "routine_sum": routine_sum,
                "other_sum": other_sum,
                "relative_diff": round(abs(routine_sum - other_sum) / top, 6) if top else 0.0,
            }
    return out


def anchored(
    current: int, today: dt.date, gains: dict[dt.date, int], days: list[dt.date], notes
) -> dict[dt.date, int]:
    """The archive's end-of-day totals, anchored to today's count. The archive has no
    un-starring, so these are lower bounds; a day that would go below 0 is left missing."""
    totals = totals_before(current, today, gains, days)
    negative = sum(1 for v in totals.values() if v < 0)
    if negative:
        notes.append(
            f"gharchive: {negative} early day(s) would read below 0 once anchored (stars "
            "removed since): left missing"
        )
    return {d: v for d, v in totals.items() if v >= 0}


def _from_archive(metric: Metric, fetch: Fetch, answer: ArchiveDays, clients, first, last, today):
    """One repository's past days from the archive's star events (module doc)."""
    current = fetch.values[today]
    gains: dict[dt.date, int] = {}
    for name in metric.archive_names:
        for day, stars in answer.rows.get(name, {}).items():
            gains[day] = gains.get(day, 0) + stars
    canary = clients.gharchive.canary
    end = answer.last_day if canary else today
    if end is None or end < today - DAY:
        raise SourceError(
            f"gharchive: the archive ends at {end or 'no day'} (its canary {canary!r} has no "
            f"star after that), before yesterday: star history not anchored, past weeks stay "
            "missing; try again later"
        )
    if not gains:
        fetch.notes.append("gharchive: no star events under " + ", ".join(metric.archive_names))
        return {}
    given = sum(gains.values())
    fetch.notes.append(
        f"gharchive: {given} stars given under {', '.join(metric.archive_names)}, "
        f"stargazers_count {current}: {given - current} removed since (not in the archive)"
    )
    outage = {d for d in _days((min(gains), end)) if canary and d not in answer.canary}
    if outage:
        fetch.notes.append(
            f"gharchive: {len(outage)} day(s) without events in the archive (its canary read "
            "nothing): left missing"
        )
    # from the day before the first star: what the archive implies the count was then
    start = max(first, min(gains) - DAY)
    wanted = [d for d in _days((start, min(last, today - DAY))) if d not in outage]
    return anchored(current, today, gains, wanted, fetch.notes)


def fetch_stars(clients: SourceClients, metrics, first, last, today) -> SourceFetch:
    """Today's snapshot always; past days from the star history, else the archive (one query
    for all), else the starred_at listing."""
    github = clients.github
    out = SourceFetch()
    need: list[Metric] = []

    def one(metric: Metric) -> Fetch:
        repo = metric.subject
        fetch = Fetch(source_ref=github.http.url(f"/repos/{repo}"))
        fetch.put({today: github.stargazers_count(repo)}, "github", fetch.source_ref)
        if first >= today:
            return fetch
        try:
            gains = github.star_history(repo, first)
            past = cumulative_from_gains(fetch.values[today], today, gains)
            fetch.put(
                {d: v for d, v in past.items() if first <= d <= last and d < today},
                "github",
                github.http.url(f"/repos/{repo}/stargazers/history"),
            )
            fetch.notes.append("past days from /stargazers/history")
        except NotAvailable as exc:
            fetch.notes.append(f"star history not available ({exc})")
            need.append(metric)
        return fetch

    for metric, fetch, error in _each(metrics, "github", one):
        if error:
            out.errors[metric.metric_id] = error
        else:
            out.fetches[metric.metric_id] = fetch
    if need and clients.gharchive is not None:
        names = [n for m in need for n in m.archive_names]
        try:
            answer = clients.gharchive.daily(names, today)
        except FAILURES as exc:
            answer, failure = None, str(exc)
        out.requests["gharchive"] = clients.gharchive.clickhouse.http.requests
        ref = clients.gharchive.clickhouse.http.url("/")
        for metric in list(need):
            fetch = out.fetches[metric.metric_id]
            try:
                if answer is None:
                    raise SourceError(failure)
                past = _from_archive(metric, fetch, answer, clients, first, last, today)
            except SourceError as exc:
                fetch.notes.append(str(exc))
                out.errors[metric.metric_id] = str(exc)  # cleared if the listing answers
                continue
            if past:
                fetch.put(past, "gharchive", ref)
                need.remove(metric)
    for metric in need:  # the listing: admins only since 2026-06-30, capped near 40,000
        fetch = out.fetches[metric.metric_id]
        if not github.authenticated:
            fetch.notes.append("only today's snapshot: past weeks keep what is stored")
            continue
        try:
            past = cumulative_from_stamps(github.starred_at(metric.subject))
            fetch.put(
                {d: v for d, v in past.items() if first <= d <= last and d < today},
                "github",
                github.http.url(f"/repos/{metric.subject}/stargazers"),
            )
            fetch.notes.append("past days from the starred_at listing")
            out.errors.pop(metric.metric_id, None)
        except NotAvailable as exc2:
            fetch.notes.append(f"starred_at listing not available ({exc2})")
            fetch.notes.append("only today's snapshot: past weeks keep what is stored")
        except FAILURES as exc2:
            out.errors[metric.metric_id] = str(exc2)
    return out


def fetch_source(
    clients: SourceClients,
    source: str,
    metrics: Sequence[Metric],
    first: dt.date,
    last: dt.date,
    today: dt.date,
    pypi_routine: str = "pypistats",
    started: Mapping[str, dt.date] | None = None,
) -> SourceFetch:
    """Every metric of one catalog source over [first, last]: a failing metric does not stop
    the others, and the results keep the catalog's order. `started`: each metric's first
    stored download (store.first_downloads), where its series began."""
    started = started or {}
    if not metrics:  # nothing to ask for: not even the canary
        return SourceFetch()
    canaries = clients.canaries
    if source == "pypistats":
        return fetch_pypi(
            clients, metrics, first, last, today, pypi_routine, canaries.pypi, started
        )
    if source == "github":
        return fetch_stars(clients, metrics, first, last, today)
    if source == "npm":
        results, _ = fetch_npm(clients, metrics, first, last, today, canaries.npm, started)
    else:
        results, _ = fetch_retained(
            clients, source, metrics, first, last, today, canaries.crates, started
        )
    out = SourceFetch()
    for metric, fetch, error in results:
        if error is None:
            out.fetches[metric.metric_id] = fetch
        else:
            out.errors[metric.metric_id] = error
    return out
