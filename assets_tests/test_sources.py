"""Source clients against the local fake APIs, including their failure modes."""

import datetime as dt
import time

import pytest

from community_metrics.sources import downloads as dl
from community_metrics.sources.github import GitHub, cumulative_from_gains
from community_metrics.sources.http import (
    HttpSource,
    MalformedResponse,
    NotAvailable,
    RateLimit,
    RateLimiter,
    SourceError,
)

from .fake_sources import mirror_extra, value


def http(fake, name="test", timeout=5.0, budget=30.0):
    return HttpSource(
        name,
        fake.url,
        contact="ops@example.org",
        rate_limit=RateLimit(),
        timeout=timeout,
        retry_budget=budget,
    )


def test_pypistats_picks_one_category_and_never_sums(fake):
    client = dl.PyPIStats(http(fake))
    without = client.daily("lancedb")
    with_mirrors = client.daily("lancedb", mirrors=True)
    days = fake.served_days("pypistats")
    assert without == {d: value("pypistats", "lancedb", d) for d in days}
    assert with_mirrors == {d: without[d] + mirror_extra("lancedb", d) for d in days}
    assert "community-metrics/" in next(iter(fake.user_agents))
    assert "ops@example.org" in next(iter(fake.user_agents))


def test_npm_encodes_scoped_names_and_chunks_long_ranges(fake):
    client = dl.Npm(http(fake))
    start, end = fake.today - dt.timedelta(days=800), fake.today - dt.timedelta(days=1)
    got = client.daily("@lancedb/lancedb", start, end)
    assert len(got) == 800
    assert all(got[d] == value("npm", "@lancedb/lancedb", d) for d in got)
    # 800 days in chunks of <= 365: three requests, none longer than the API keeps whole
    assert fake.count("/downloads/range/") == 3


def test_crates_day_total_includes_extra_downloads(fake):
    got = dl.Crates(http(fake)).daily("lancedb")
    assert got == {d: value("cratesio", "lancedb", d) for d in fake.served_days("cratesio")}


def test_github_restricted_listings_are_not_available_not_zero(fake):
    github = GitHub(http(fake))
    with pytest.raises(NotAvailable, match="403"):
        github.starred_at("lancedb/lancedb")
    with pytest.raises(NotAvailable, match="403"):
        github.star_history("lance-format/lance", fake.today - dt.timedelta(days=30))


def test_star_history_rebuilds_end_of_day_totals(fake):
    github = GitHub(http(fake))
    current = github.stargazers_count("lancedb/lancedb")
    assert current == fake.stars_at_end_of("lancedb/lancedb", fake.today)
    since = fake.today - dt.timedelta(days=100)
    totals = cumulative_from_gains(
        current, fake.today, github.star_history("lancedb/lancedb", since)
    )
    for day in (since, fake.today - dt.timedelta(days=1), fake.today - dt.timedelta(days=37)):
        assert totals[day] == fake.stars_at_end_of("lancedb/lancedb", day)
    # only as many pages as the range needs (100 days fit in one page of 30 weeks)
    assert fake.count("/repos/lancedb/lancedb/stargazers/history") == 1


def test_429_with_retry_after_is_waited_out(fake):
    fake.script("/api/v1/crates/lance/", ("status", 429, {"Retry-After": "1"}))
    started = time.monotonic()
    got = dl.Crates(http(fake)).daily("lance")
    assert time.monotonic() - started >= 1.0
    assert got and fake.count("/api/v1/crates/lance/") == 2


def test_transient_5xx_and_timeouts_are_retried(fake):
    fake.script("/api/packages/pylance/", ("status", 500), ("status", 503), ("sleep", 1.5))
    got = dl.PyPIStats(http(fake, timeout=0.5)).daily("pylance")
    assert len(got) == 180
    assert fake.count("/api/packages/pylance/") == 4


def test_github_rate_limit_headers_are_honoured(fake):
    reset = str(int(time.time()) + 1)
    fake.script(
        "/repos/lancedb/lancedb",
        ("status", 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}),
    )
    started = time.monotonic()
    assert GitHub(http(fake)).stargazers_count("lancedb/lancedb") > 0
    assert time.monotonic() - started >= 0.9


def test_malformed_json_is_an_error_not_an_empty_result(fake):
    fake.script("/api/packages/lancedb/", ("malformed",))
    with pytest.raises(MalformedResponse, match="not JSON"):
        dl.PyPIStats(http(fake)).daily("lancedb")


def test_a_permanent_failure_gives_up_within_the_budget(fake):
    fake.always("/api/v1/crates/lance/", ("status", 502))
    started = time.monotonic()
    with pytest.raises(SourceError, match="gave up after retries: HTTP 502"):
        dl.Crates(http(fake, budget=2)).daily("lance")
    assert time.monotonic() - started < 10


def test_a_source_that_does_not_answer_costs_one_budget_per_client(fake):
    fake.always("/api/packages/", ("sleep", 1.5))
    pypi = dl.PyPIStats(http(fake, timeout=0.5, budget=2))
    with pytest.raises(SourceError, match="gave up after retries: ReadTimeout") as first:
        pypi.daily("pylance")
    started = time.monotonic()
    with pytest.raises(SourceError) as second:
        pypi.daily("lancedb")
    assert time.monotonic() - started < 0.1  # at once, without a request
    assert str(second.value).startswith(str(first.value))
    assert "no further calls this run" in str(second.value)
    assert fake.count("/api/packages/lancedb/") == 0


def test_an_http_error_of_one_package_leaves_the_others_alone(fake):
    fake.always("/api/v1/crates/lance/", ("status", 502))
    crates = dl.Crates(http(fake, budget=1))
    with pytest.raises(SourceError, match="HTTP 502"):
        crates.daily("lance")
    assert crates.daily("lancedb")  # the same client: the breaker did not open


def test_rate_limiter_keeps_per_second_and_per_minute_limits():
    now = [0.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(RateLimit(per_second=5, per_minute=30), clock=lambda: now[0], sleep=sleep)
    stamps = []
    for _ in range(31):
        limiter.acquire()
        stamps.append(now[0])
    assert all(stamps[i + 5] - stamps[i] >= 1.0 for i in range(len(stamps) - 5))
    assert stamps[30] - stamps[0] >= 60.0
    # and no slower than the limits make it: five at once, the 31st within 10 ms of 60 s
    assert stamps[:5] == [0.0] * 5
    assert stamps[30] - stamps[0] < 60.01


def test_rate_limiter_takes_every_shape_in_use():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    def stamps(limit, n):
        limiter = RateLimiter(limit, clock=lambda: now[0], sleep=sleep)
        start, out = now[0], []
        for _ in range(n):
            limiter.acquire()
            out.append(now[0] - start)
        return out

    assert stamps(RateLimit(), 100) == [0.0] * 100
    minute_only = stamps(RateLimit(per_minute=10), 11)
    assert minute_only[:10] == [0.0] * 10 and 60.0 <= minute_only[10] < 60.01
    # a per-minute limit the per-second one already implies is not an error
    implied = stamps(RateLimit(per_second=1, per_minute=120), 4)
    assert all(1.0 <= b - a < 1.01 for a, b in zip(implied, implied[1:], strict=False))


def hn_item(i: int, created: int, text: str, kind: str = "comment") -> dict:
    return {
        "objectID": str(40_000_000 + i),
        "created_at_i": created,
        "author": f"user{i % 37}",
        "points": None if kind == "comment" else i % 50,
        "title": text if kind == "story" else None,
        "comment_text": text if kind == "comment" else None,
        "_tags": [kind, f"author_user{i % 37}"],
    }


def test_hacker_news_slices_past_1000_hits_and_dedupes_case_variants(fake):
    from community_metrics.sources.hackernews import HackerNews

    start = dt.datetime(2026, 11, 9, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=7)
    seconds = int((end - start).total_seconds())
    spellings = ["LanceDB rocks", "switched to lancedb", "LANCEDB on S3", "lanceDB + duckdb"]
    for i in range(2600):
        created = int(start.timestamp()) + (i * 7919) % seconds
        fake.hn_items.append(hn_item(i, created, spellings[i % 4], "story" if i % 5 else "comment"))
    # noise: outside the window, or not matching
    fake.hn_items.append(hn_item(9001, int(end.timestamp()), "lancedb next week"))
    fake.hn_items.append(hn_item(9002, int(start.timestamp()) + 5, "pgvector only"))

    found = HackerNews(http(fake)).search(["LanceDB", "lancedb"], start, end)
    assert len(found) == 2600
    assert len({m.source_id for m in found}) == 2600
    assert {m.source_id for m in found} == {str(40_000_000 + i) for i in range(2600)}
    assert all(m.matched_terms == {"LanceDB", "lancedb"} for m in found)
    assert all(start <= m.created_at < end for m in found)
    # per term: the week (2,600 hits) and its halves (~1,300) are over the cap; the four
    # quarters (~650) are reachable: 1 + 2 + 4 queries
    assert fake.count("/api/v1/search_by_date") == 2 * 7


def gh_issue(i: int, created: dt.datetime, text: str) -> dict:
    return {
        "id": 3_000_000_000 + i,
        "number": i,
        "title": text,
        "body": f"<!-- template -->\n{text} in production",
        "html_url": f"https://github.com/someone/project/issues/{i}",
        "user": {"login": f"dev{i % 11}"},
        "comments": i % 4,
        "reactions": {"total_count": i % 3},
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_github_issue_search_slices_past_1000_results_and_dedupes(fake):
    from community_metrics.sources.github_search import GitHubSearch

    start = dt.datetime(2026, 11, 9, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=7)
    seconds = int((end - start).total_seconds())
    for i in range(2300):
        created = start + dt.timedelta(seconds=(i * 7919) % seconds)
        fake.gh_issues.append(gh_issue(i, created, ["LanceDB index", "lancedb crash"][i % 2]))
    fake.gh_issues.append(gh_issue(9001, end, "lancedb next week"))  # outside [start, end)

    found = GitHubSearch(http(fake)).issues(["LanceDB", "lancedb"], start, end)
    assert len(found) == 2300
    assert {m.source_id for m in found} == {f"issue:{3_000_000_000 + i}" for i in range(2300)}
    assert all(m.matched_terms == {"LanceDB", "lancedb"} for m in found)
    assert all(start <= m.created_at < end and m.kind == "issue" for m in found)
    assert found[0].points is not None and found[0].url.startswith("https://github.com/")
    # per term: the week (2,300) and its halves (~1,150) are over the cap; the quarters (~575)
    # need 6 pages each: 1 + 2 + 4 first pages + 4 x 5 further pages
    assert fake.count("/search/issues") == 2 * (1 + 2 + 4 + 4 * 5)


def test_github_discussions_need_a_token_and_are_paged(fake):
    from community_metrics.sources.github_search import GitHubSearch

    start = dt.datetime(2026, 11, 9, tzinfo=dt.UTC)
    for i in range(250):
        fake.gh_discussions.append(
            {
                "id": f"D_kwDO{i:05d}",
                "number": i,
                "title": f"Question {i} about LanceDB",
                "body": "How do I upsert?",
                "url": f"https://github.com/lancedb/lancedb/discussions/{i}",
                "createdAt": (start + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
                "upvoteCount": i % 5,
                "author": {"login": "asker"},
                "comments": {"totalCount": 2},
            }
        )
    end = start + dt.timedelta(days=7)
    with pytest.raises(NotAvailable, match="GITHUB_TOKEN"):
        GitHubSearch(http(fake)).discussions(["lancedb"], start, end)
    assert fake.count("/graphql") == 0

    client = HttpSource(
        "github search",
        fake.url,
        contact=None,
        rate_limit=RateLimit(),
        headers={"Authorization": "Bearer test-token"},
    )
    found = GitHubSearch(client, authenticated=True).discussions(["lancedb"], start, end)
    assert [m.source_id for m in found] == [f"discussion:D_kwDO{i:05d}" for i in range(250)]
    assert {m.kind for m in found} == {"discussion"} and found[3].points == 3
    assert fake.count("/graphql") == 3  # 100 + 100 + 50


def test_github_incomplete_search_results_are_retried_then_an_error(fake):
    from community_metrics.sources.github_search import GitHubSearch

    start = dt.datetime(2026, 11, 9, tzinfo=dt.UTC)
    fake.gh_issues.append(gh_issue(1, start, "lancedb question"))
    fake.script("/search/issues", ("incomplete",))
    found = GitHubSearch(http(fake)).issues(["lancedb"], start, start + dt.timedelta(days=7))
    assert [m.source_id for m in found] == ["issue:3000000001"]
    assert fake.count("/search/issues") == 2

    fake.always("/search/issues", ("incomplete",))
    with pytest.raises(SourceError, match="incomplete_results"):
        GitHubSearch(http(fake)).issues(["lancedb"], start, start + dt.timedelta(days=7))
