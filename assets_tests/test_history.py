"""Full history from the ClickHouse archives (ClickPy, GitHub events), on a real ClickHouse
engine: chdb behind a local server speaking ClickHouse's HTTP interface (fake_clickhouse.py).

Each test generates the archive's rows, computes the expected weekly figures from those rows
on its own (plain Python, not the project's code), and runs the real pipeline against the fake
APIs and the fake archive.
"""

from __future__ import annotations

import datetime as dt
import re
import zlib
from collections import defaultdict

import pytest

from community_metrics import weeks
from community_metrics.jobs import REFRESH_JOB
from community_metrics.runner import execute
from community_metrics.store import OBSERVATIONS

from .conftest import point_at, run_cli
from .fake_clickhouse import QUOTA_EXCEEDED, FakeClickHouse
from .fake_sources import FakeSources, mirror_extra, value
from .test_refresh import meta

DAY = dt.timedelta(days=1)
MIRRORS = {"bandersnatch", "z3c.pypimirror", "artifactory", "devpi"}  # pypistats' MIRRORS
# Mirror installers in the case the archive may hold them, and ordinary installers.
INSTALLERS = ["pip", "uv", "poetry", "bandersnatch", "Artifactory", "devpi", "z3c.pypimirror"]
TODAY = dt.datetime.now(dt.UTC).date()
PYPISTATS_OLDEST = TODAY - dt.timedelta(days=180)
LAST_WEEK = weeks.latest_closed_week()


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + DAY * i for i in range((last - first).days + 1)]


def h(*parts) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode())


def history_rows(project: str, first: dt.date, last: dt.date, zero=frozenset(), repeat=()):
    """By-installer rows for days before pypistats' window (a day in `zero` has none), and in
    the window rows that add up to the fake pypistats' figures (so both sources agree)."""
    rows = []
    for day in days(first, last):
        if day in zero:
            continue
        if day >= PYPISTATS_OLDEST:
            rows.append(
                (project, "1.0", day, "pip", "bdist_wheel", value("pypistats", project, day))
            )
            rows.append((project, "1.0", day, "bandersnatch", "sdist", mirror_extra(project, day)))
            continue
        for installer in INSTALLERS:
            for version in ("1.0", "2.0"):
                count = h(project, day, installer, version) % 40
                if count:
                    rows.append((project, version, day, installer, "bdist_wheel", count))
    # SummingMergeTree parts not merged yet: the same key inserted again must add up
    extra = [r for r in rows if r[2] in repeat]
    return rows, extra


def canary_rows(first: dt.date, last: dt.date, outage=frozenset()):
    return [
        ("pip", "24.0", d, "pip", "bdist_wheel", 100_000)
        for d in days(first, last)
        if d not in outage
    ]


def daily_sums(rows, mirrors: bool) -> dict[str, dict[dt.date, int]]:
    out: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for project, _version, day, installer, _type, count in rows:
        if mirrors or installer.lower() not in MIRRORS:
            out[project][day] += count
    return out


def weekly_expected(daily: dict[dt.date, int], covered: set[dt.date], start: dt.date):
    """Week -> (sum, days observed): covered days from the first download on (a covered day
    without a row is 0), for the closed weeks from `start`."""
    first = min(d for d, v in daily.items() if v > 0)
    out = {}
    monday = weeks.monday_of(max(first, start))
    while monday <= LAST_WEEK:
        inside = [d for d in days(monday, monday + 6 * DAY) if d >= first and d in covered]
        if inside:
            out[monday] = (sum(daily.get(d, 0) for d in inside), len(inside))
        monday += 7 * DAY
    return out


def star_events(repo: str, first: dt.date, last: dt.date, per_day: int):
    events = []
    for day in days(first, last):
        for i in range(h("stars", repo, day) % (per_day + 1)):
            at = dt.datetime.combine(day, dt.time(i % 24, i % 60))
            events.append(("WatchEvent", "started", repo, f"user{i}", at))
    return events


def weekly_stars(events_by_day: dict[dt.date, int], current: int, start: dt.date) -> dict:
    """Week -> end-of-week stars: today's count minus the stars given after that Sunday; weeks
    that would read below 0 are missing."""
    out = {}
    total = sum(events_by_day.values())
    monday = weeks.monday_of(max(start, min(events_by_day) - DAY))
    while monday <= LAST_WEEK:
        sunday = monday + 6 * DAY
        given = sum(n for d, n in events_by_day.items() if d <= sunday)
        if current - (total - given) >= 0:
            out[monday] = current - (total - given)
        monday += 7 * DAY
    return out


def per_day(events) -> dict[dt.date, int]:
    out: dict[dt.date, int] = defaultdict(int)
    for event in events:
        out[event[4].date()] += 1
    return out


@pytest.fixture
def archive():
    with FakeClickHouse() as server:
        yield server


@pytest.fixture
def history(env, fake, archive, seed_dir, monkeypatch):
    """aim(catalog text): settings, definitions and store for that catalog, aimed at the fake
    APIs and the fake archives."""

    def aim(entries: str):
        (seed_dir / "catalog.toml").write_text(entries)
        return point_at(
            fake,
            env,
            monkeypatch,
            CM_CLICKPY_URL=archive.url,
            CM_GHARCHIVE_URL=archive.url,
            CM_RETRY_BUDGET_SECONDS="2",
            CM_ARCHIVE_TIMEOUT="10",
        )

    return aim


def pypi_metric(i: str, subject: str, mirrors: bool = False) -> str:
    return (
        f'[[metric]]\nmetric_id = "downloads:{i}:python"\nfamily = "downloads"\n'
        f'product = "{i}"\nsubject = "{subject}"\nsdk = "python"\nsource = "pypistats"\n'
        f'unit = "downloads"\ndisplay_name = "{i}"\nmirrors = {str(mirrors).lower()}\n\n'
    )


def star_metric(i: str, repo: str, former=()) -> str:
    names = ", ".join(f'"{n}"' for n in former)
    return (
        f'[[metric]]\nmetric_id = "stars:{i}:github"\nfamily = "stars"\nproduct = "{i}"\n'
        f'subject = "{repo}"\nsdk = "github"\nsource = "github"\nunit = "stars"\n'
        f'display_name = "{i}"\nformer_names = [{names}]\n\n'
    )


def week_keys(first: dt.date) -> list[str]:
    return weeks.week_keys(first, LAST_WEEK + 6 * DAY)


def weekly(store, metric_id: str) -> dict[dt.date, dict]:
    return {
        r["period_start"]: r
        for r in store.stats([metric_id], "week")
        if r["metric_id"] == metric_id
    }


def test_mirror_exclusion_zero_days_outages_and_the_seam(
    history, fake, archive, seed_dir, instance
):
    """ClickPy without mirrors means pypistats' without_mirrors; a covered day without a row is
    0 (complete week), a day the canary lacks is missing; the seam week is whole; a re-run
    writes nothing."""
    first = PYPISTATS_OLDEST - dt.timedelta(days=60)
    zero = {first + dt.timedelta(days=9), first + dt.timedelta(days=30)}  # no downloads
    outage = {first + dt.timedelta(days=20)}  # the archive lacks the day for everyone
    rows, repeat = history_rows("mirrored", first, TODAY - DAY, zero | outage, {first + 3 * DAY})
    archive.insert_downloads(rows + canary_rows(dt.date(2016, 1, 1), TODAY - DAY, outage))
    archive.insert_downloads(repeat)
    _, defs, store = history(
        pypi_metric("plain", "mirrored") + pypi_metric("all", "Mirrored", True)
    )
    keys = week_keys(first)
    result = execute(defs, REFRESH_JOB, instance, keys)
    assert result.success

    covered = set(days(dt.date(2016, 1, 1), TODAY - DAY)) - outage
    seam = weeks.monday_of(PYPISTATS_OLDEST)
    for metric_id, mirrors in (("downloads:plain:python", False), ("downloads:all:python", True)):
        daily = daily_sums(rows + repeat, mirrors)["mirrored"]
        got = weekly(store, metric_id)
        assert {w: (r["value"], r["days_observed"]) for w, r in got.items()} == weekly_expected(
            daily, covered, first
        )
        # the weeks only ClickPy covers, the week at pypistats' edge from both, then pypistats
        assert got[seam - 7 * DAY]["provenance"] == "clickpy"
        edge = "pypistats" if seam == PYPISTATS_OLDEST else "clickpy+pypistats"
        assert got[seam]["provenance"] == edge
        assert got[LAST_WEEK]["provenance"] == "pypistats"
    plain = weekly(store, "downloads:plain:python")
    assert plain[weeks.monday_of(min(outage))]["days_observed"] == 6  # missing, not 0
    for day in zero:  # a day without downloads makes no incomplete week
        assert plain[weeks.monday_of(day)]["days_observed"] == 7
    assert not [r for r in store.read_all(OBSERVATIONS) if r["day"] in outage]
    assert len(archive.queries()) == 1  # one ClickPy query for the catalog and the canary
    m = meta(result, "pypi_downloads")
    assert m["source_comparison"]["downloads:plain:python"]["relative_diff"] == 0.0
    assert m["clickpy_queries"] == 1

    again = execute(defs, REFRESH_JOB, instance, keys)
    assert again.success
    for asset in ("pypi_downloads", "weekly_metrics"):
        assert (meta(again, asset)["rows_inserted"], meta(again, asset)["rows_updated"]) == (0, 0)
    assert weekly(store, "downloads:plain:python") == plain


def test_zero_days_of_the_apis_and_an_npm_outage(history, fake, archive, seed_dir, instance):
    """pypistats and crates.io leave out a day without downloads (a complete week); npm's
    outage reads 0 for every package, canary included (missing, not zero)."""
    monday = LAST_WEEK
    archive.insert_downloads(canary_rows(dt.date(2016, 1, 1), TODAY - DAY))
    # the first day of the range: the series began long before (the answer says so)
    fake.zero_days[("pypistats", "quiet")] = {monday}
    fake.zero_days[("cratesio", "quietcrate")] = {monday + 2 * DAY}
    fake.npm_outages.add(monday + 3 * DAY)
    _, defs, store = history(
        pypi_metric("quiet", "quiet")
        + '[[metric]]\nmetric_id = "downloads:quiet:rust"\nfamily = "downloads"\n'
        'product = "quiet"\nsubject = "quietcrate"\nsdk = "rust"\nsource = "cratesio"\n'
        'unit = "downloads"\ndisplay_name = "q"\n\n'
        '[[metric]]\nmetric_id = "downloads:quiet:nodejs"\nfamily = "downloads"\n'
        'product = "quiet"\nsubject = "quietnpm"\nsdk = "nodejs"\nsource = "npm"\n'
        'unit = "downloads"\ndisplay_name = "q"\n',
    )
    assert execute(defs, REFRESH_JOB, instance, [monday.isoformat()]).success
    week = days(monday, monday + 6 * DAY)
    rows = {r["metric_id"]: r for r in store.stats(source_window="week")}
    python, rust, node = (rows[f"downloads:quiet:{s}"] for s in ("python", "rust", "nodejs"))
    assert (python["value"], python["days_observed"]) == (
        sum(value("pypistats", "quiet", d) for d in week if d != monday),
        7,
    )
    assert (rust["value"], rust["days_observed"]) == (
        sum(value("cratesio", "quietcrate", d) for d in week if d != monday + 2 * DAY),
        7,
    )
    assert (node["value"], node["days_observed"]) == (
        sum(value("npm", "quietnpm", d) for d in week if d != monday + 3 * DAY),
        6,
    )
    zeros = {(r["metric_id"], r["day"]) for r in store.read_all(OBSERVATIONS) if r["value"] == 0}
    assert zeros == {
        ("downloads:quiet:python", monday),
        ("downloads:quiet:rust", monday + 2 * DAY),
    }


def test_a_package_name_carrying_sql_is_only_a_name(history, fake, archive, instance):
    evil = "x'); DROP TABLE pypi.pypi_downloads_per_day_by_version_by_installer_by_type; --"
    first = PYPISTATS_OLDEST - dt.timedelta(days=30)
    # the archive holds names in PEP 503's normal form, as PyPI's log does
    stored = re.sub(r"[-_.]+", "-", evil).lower()
    rows, _ = history_rows(stored, first, TODAY - DAY)
    archive.insert_downloads(rows + canary_rows(first, TODAY - DAY))
    _, defs, store = history(pypi_metric("evil", evil))
    assert execute(defs, REFRESH_JOB, instance, week_keys(first)).success
    (query,) = archive.queries()
    assert "DROP" not in query and "x'" not in query  # the name travelled as a parameter
    tables = archive.admin_query("SELECT name FROM system.tables WHERE database = 'pypi'")
    assert "pypi_downloads_per_day_by_version_by_installer_by_type" in tables
    # matched exactly, as a name: its archive days came back, the same as any package's (the
    # weeks only ClickPy covers; pypistats serves the recent ones)
    covered = set(days(first, TODAY - DAY))
    seam = weeks.monday_of(PYPISTATS_OLDEST)
    want = weekly_expected(daily_sums(rows, False)[stored], covered, first)
    got = weekly(store, "downloads:evil:python")
    old = {w: (r["value"], r["days_observed"]) for w, r in got.items() if w < seam}
    assert old == {w: v for w, v in want.items() if w < seam} and len(old) >= 4
    assert {got[w]["provenance"] for w in old} == {"clickpy"}


def test_sources_that_disagree_raise_the_warning_check(history, fake, archive, instance):
    first = LAST_WEEK
    rows = [
        ("pkg", "1.0", d, "pip", "bdist_wheel", value("pypistats", "pkg", d) * 12 // 10)
        for d in days(first, TODAY - DAY)
    ]
    archive.insert_downloads(rows + canary_rows(first, TODAY - DAY))
    _, defs, store = history(pypi_metric("pkg", "pkg"))
    result = execute(defs, REFRESH_JOB, instance, [first.isoformat()])
    assert result.success  # a warning, not a failure
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "sources_agree"]
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["apart"].value == ["downloads:pkg:python"]
    compared = check.metadata["compared"].value["downloads:pkg:python"]
    assert compared["days"] >= 7 and 0.15 < compared["relative_diff"] < 0.2
    # the routine figure is the one stored
    (row,) = store.stats(["downloads:pkg:python"], "week")
    assert row["provenance"] == "pypistats"
    week = days(first, first + 6 * DAY)
    assert row["value"] == sum(value("pypistats", "pkg", d) for d in week)


def test_a_quota_error_is_one_line_and_leaves_the_weeks_missing(
    history, fake, archive, seed_dir, instance, env
):
    first = PYPISTATS_OLDEST - dt.timedelta(days=30)
    rows, _ = history_rows("pkg", first, TODAY - DAY)
    archive.insert_downloads(rows + canary_rows(first, TODAY - DAY))
    archive.fail_next(100, 500, QUOTA_EXCEEDED)
    _, defs, store = history(pypi_metric("pkg", "pkg"))
    result = execute(defs, REFRESH_JOB, instance, week_keys(first))
    assert not result.success
    got = weekly(store, "downloads:pkg:python")
    # pypistats' weeks are there; the older ones stay missing, never zero
    assert got and min(got) >= weeks.monday_of(PYPISTATS_OLDEST)
    assert all(r["value"] > 0 for r in got.values())
    error = meta(result, "pypi_downloads")["errors"]["downloads:pkg:python"]
    assert "\n" not in error and "QUOTA_EXCEEDED" in error and "CM_CLICKPY_URL" in error
    assert 1 < len(archive.requests) <= 10  # retried within the budget, then given up


def test_stars_from_the_archive_under_every_name_past_40000(
    history, fake, archive, seed_dir, instance
):
    """A repository with 45,000 star events, recorded under two names: exact weekly totals
    anchored to today's stargazers_count, early weeks below 0 left missing."""
    rename = dt.date(2025, 3, 1)
    old = star_events("old-org/big", dt.date(2023, 1, 2), rename - DAY, 60)
    new = star_events("new-org/big", rename, TODAY, 60)
    canary = [
        ("WatchEvent", "started", "torvalds/linux", "u", dt.datetime.combine(d, dt.time(5)))
        for d in days(dt.date(2011, 2, 12), TODAY)
    ]
    noise = [("ForkEvent", "none", "new-org/big", "f", dt.datetime(2025, 5, 1, 3))]
    archive.insert_events(old + new + canary + noise)
    given = len(old) + len(new)
    assert given > 40_000
    current = given - 25  # 25 stars removed since: the archive does not see removals
    fake.star_counts["new-org/big"] = current
    _, defs, store = history(star_metric("big", "new-org/big", ["old-org/big"]))
    first = dt.date(2023, 1, 2)
    result = execute(defs, REFRESH_JOB, instance, week_keys(first))
    assert result.success
    got = weekly(store, "stars:big:github")
    expected = weekly_stars(per_day(old + new), current, first)
    assert {w: r["value"] for w, r in got.items()} == expected
    assert {r["provenance"] for w, r in got.items() if w < LAST_WEEK} == {"gharchive"}
    notes = meta(result, "github_stars")["notes"]["stars:big:github"]
    assert any(f"{given} stars given" in n and "25 removed" in n for n in notes)
    assert len(archive.queries()) == 1


def test_an_archive_that_ends_early_leaves_past_weeks_missing(
    history, fake, archive, seed_dir, instance
):
    end = TODAY - dt.timedelta(days=10)
    events = star_events("org/repo", dt.date(2024, 1, 1), end, 5)
    canary = [
        ("WatchEvent", "started", "torvalds/linux", "u", dt.datetime.combine(d, dt.time(5)))
        for d in days(dt.date(2011, 2, 12), end)
    ]
    archive.insert_events(events + canary)
    _, defs, store = history(star_metric("repo", "org/repo"))
    result = execute(defs, REFRESH_JOB, instance, week_keys(dt.date(2024, 1, 1)))
    assert not result.success
    error = meta(result, "github_stars")["errors"]["stars:repo:github"]
    assert "\n" not in error and f"ends at {end}" in error
    got = weekly(store, "stars:repo:github")
    assert set(got) <= {LAST_WEEK}  # at most the week today's snapshot stands for


def test_backfill_since_2016_of_the_default_catalog_in_one_run(env, archive, seed_dir):
    """The acceptance run: `backfill --from 2016-01-04` on a fresh store, one run, O(sources)
    requests, every week each source covers filled."""
    first_download = {"pylance": dt.date(2020, 3, 2), "lancedb": dt.date(2019, 6, 10)}
    rows = []
    for project, first in first_download.items():
        rows += history_rows(project, first, TODAY - DAY, zero={first + 5 * DAY})[0]
    archive.insert_downloads(rows + canary_rows(dt.date(2016, 1, 1), TODAY - DAY))
    names = {
        "lance-format/lance": [
            ("eto-ai/lance", dt.date(2022, 5, 2), dt.date(2023, 5, 31)),
            ("lancedb/lance", dt.date(2023, 6, 1), dt.date(2025, 7, 31)),
            ("lance-format/lance", dt.date(2025, 8, 1), TODAY),
        ],
        "lancedb/lancedb": [
            ("eto-ai/lancedb", dt.date(2023, 2, 1), dt.date(2023, 4, 30)),
            ("lancedb/lancedb", dt.date(2023, 5, 1), TODAY),
        ],
    }
    events = {
        repo: [e for n, a, b in spans for e in star_events(n, a, b, 9)]
        for repo, spans in names.items()
    }
    canary = [
        ("WatchEvent", "started", "torvalds/linux", "u", dt.datetime.combine(d, dt.time(5)))
        for d in days(dt.date(2011, 2, 12), TODAY)
    ]
    archive.insert_events([e for es in events.values() for e in es] + canary)
    with FakeSources(history_repos=()) as fake:
        for repo, es in events.items():
            fake.star_counts[repo] = len(es) + 3  # 3 stars from before the archive's names
        run_env = {
            **env,
            **fake.env(),
            "CM_CLICKPY_URL": archive.url,
            "CM_GHARCHIVE_URL": archive.url,
            "CM_HTTP_TIMEOUT": "5",
            "CM_RETRY_BUDGET_SECONDS": "5",
        }
        done = run_cli(
            ["backfill", "--from", "2016-01-04", "--to", (LAST_WEEK + 6 * DAY).isoformat()],
            run_env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        requests = {p: fake.count(p) for p in ("/api/packages/", "/api/v1/crates/", "/repos/")}
        npm = fake.count("/downloads/range/")
    # O(sources): one query per archive; per API, one call per package (npm: per year) plus
    # the canary's
    assert len(archive.queries()) == 2
    assert requests == {"/api/packages/": 3, "/api/v1/crates/": 3, "/repos/": 4}
    years = len(range(dt.date(2016, 1, 4).year, TODAY.year + 1))
    assert npm <= 2 * (years + 1)
    from community_metrics.config import load_settings
    from community_metrics.store import StoreWriter

    store = StoreWriter.connect(load_settings(run_env))
    covered = set(days(dt.date(2016, 1, 1), TODAY - DAY))
    for metric_id, project in (
        ("downloads:lance:python", "pylance"),
        ("downloads:lancedb:python", "lancedb"),
    ):
        daily = daily_sums(rows, False)[project]
        got = weekly(store, metric_id)
        assert {w: (r["value"], r["days_observed"]) for w, r in got.items()} == weekly_expected(
            daily, covered, dt.date(2016, 1, 4)
        ), metric_id
    for metric_id, repo in (
        ("stars:lance:github", "lance-format/lance"),
        ("stars:lancedb:github", "lancedb/lancedb"),
    ):
        got = weekly(store, metric_id)
        expected = weekly_stars(per_day(events[repo]), len(events[repo]) + 3, dt.date(2016, 1, 4))
        assert {w: r["value"] for w, r in got.items()} == expected, metric_id


def clickpy_client(url: str, budget: float = 2.0):
    from community_metrics.config import SourceSettings
    from community_metrics.sources.clients import build_clients

    settings = SourceSettings(clickpy_url=url, retry_budget_seconds=budget, pypi_canary="pip")
    return build_clients(settings).clickpy


def test_older_servers_quote_64_bit_integers_and_both_parse():
    first = dt.date(2024, 1, 1)
    rows, _ = history_rows("pkg", first, first + 9 * DAY)
    want = daily_sums(rows, False)["pkg"]
    for quoted in (True, False):
        with FakeClickHouse(quote_64bit_integers=quoted) as server:
            server.insert_downloads(rows + canary_rows(first, first + 9 * DAY))
            answer = clickpy_client(server.url).daily(["pkg"], first, first + 9 * DAY)
            assert {d: both[1] for d, both in answer.rows["pkg"].items()} == want
            assert answer.last_day == first + 9 * DAY
            (request,) = server.requests
            assert request["params"]["user"] == "play"
            assert request["params"]["param_projects"] == "['pkg','pip']"


def test_a_bad_query_is_not_retried_and_an_overload_is():
    with FakeClickHouse() as server:
        server.fail_next(
            1, 500, "Code: 62. DB::Exception: Syntax error: failed at position 1. (SYNTAX_ERROR)"
        )
        with pytest.raises(Exception, match="SYNTAX_ERROR") as error:
            clickpy_client(server.url).daily(["pkg"], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
        assert len(server.requests) == 1 and "\n" not in str(error.value)
        server.fail_next(
            2,
            503,
            "Code: 202. DB::Exception: Too many simultaneous queries. "
            "(TOO_MANY_SIMULTANEOUS_QUERIES)",
        )
        answer = clickpy_client(server.url, budget=10).daily(
            ["pkg"], dt.date(2024, 1, 1), dt.date(2024, 1, 2)
        )
        assert answer.rows == {"pkg": {}} and len(server.requests) == 1 + 3


def test_clickpy_as_the_routine_source_asks_pypistats_nothing(history, fake, archive, instance):
    first = LAST_WEEK - dt.timedelta(days=21)
    rows, _ = history_rows("pkg", first, TODAY - DAY)
    archive.insert_downloads(rows + canary_rows(first, TODAY - DAY))
    _, defs, store = history(
        '[settings]\npypi_routine_source = "clickpy"\n\n' + pypi_metric("pkg", "pkg")
    )
    assert execute(defs, REFRESH_JOB, instance, week_keys(first)).success
    assert fake.count("/api/packages/") == 0 and len(archive.queries()) == 1
    got = weekly(store, "downloads:pkg:python")
    covered = set(days(first, TODAY - DAY))
    want = weekly_expected(daily_sums(rows, False)["pkg"], covered, first)
    assert {w: (r["value"], r["days_observed"]) for w, r in got.items()} == want
    assert {r["provenance"] for r in got.values()} == {"clickpy"}
