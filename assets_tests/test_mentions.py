"""Community mentions: cleaning, the catalog's search terms, the example file, and the weekly
mentions asset with its embeddings through real Dagster runs against the fake APIs."""

import datetime as dt

import pytest

from community_metrics.catalog import CatalogError, load_catalog
from community_metrics.jobs import REFRESH_JOB
from community_metrics.mentions.records import clean_html, clean_markdown
from community_metrics.partitions import WEEKLY
from community_metrics.runner import execute
from community_metrics.seed import parsers
from community_metrics.store import MENTIONS

from .conftest import point_at
from .test_sources import gh_issue, hn_item


def metadata(result, asset: str) -> dict:
    [event] = [
        e
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.path[-1] == asset
    ][-1:]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_hacker_news_html_becomes_readable_text():
    raw = 'Try <a href="https://x.org">LanceDB</a> &amp; DuckDB<p>It&#x27;s fast.<p><pre>pip</pre>'
    assert clean_html(raw) == "Try LanceDB & DuckDB\nIt's fast.\n\npip"
    assert clean_html(None) == ""


def test_github_markdown_keeps_code_and_drops_template_comments():
    raw = "<!-- Describe the bug -->\n### Bug\r\n\r\n<details><summary>Log</summary>Vec<T> &lt; 3"
    assert clean_markdown(raw) == "### Bug\n\nLog Vec<T> < 3"


def test_products_need_a_list_of_search_terms(seed_dir):
    catalog = load_catalog(seed_dir)
    assert [p.name for p in catalog.products] == ["lance", "lancedb"]
    assert catalog.products_for_terms({"LanceDB"}) == ["lancedb"]
    assert "downloads:lancedb:nodejs" in catalog.metric_ids_for_products(["lancedb"])
    path = seed_dir / "catalog.toml"
    path.write_text(path.read_text() + '\n[products.duckdb]\nsearch_terms = "duckdb"\n')
    with pytest.raises(CatalogError, match=r"product 'duckdb', field 'search_terms'"):
        load_catalog(seed_dir)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"id": "x1", "kind": "comment", "text": "lancedb"', "not valid JSON"),
        ('{"id": "x1", "kind": "comment", "occurred_at": "2026-01-05T10:00:00Z"}', "'text'"),
        (
            '{"id": "x1", "kind": "tweet", "text": "lancedb", '
            '"occurred_at": "2026-01-05T10:00:00Z"}',
            "'kind' must be one of",
        ),
        (
            '{"id": "x1", "kind": "comment", "text": "lancedb", "occurred_at": "2026-01-05"}',
            "with a zone",
        ),
        (
            '{"id": "x1", "kind": "comment", "text": "pgvector only", '
            '"occurred_at": "2026-01-05T10:00:00Z"}',
            "none of the catalog's search terms",
        ),
        (
            '{"id": "has space", "kind": "comment", "text": "lancedb", '
            '"occurred_at": "2026-01-05T10:00:00Z"}',
            "field 'id' must be",
        ),
        (
            '{"id": "ex-001", "kind": "comment", "text": "lancedb", '
            '"occurred_at": "2026-01-05T10:00:00Z"}',
            "already used at mentions.jsonl:1",
        ),
    ],
)
def test_a_bad_example_mention_names_file_line_and_field(seed_dir, line, problem):
    path = seed_dir / "mentions.jsonl"
    path.write_text(path.read_text() + line + "\n")
    bad_line = len(path.read_text().splitlines())
    with pytest.raises(parsers.SeedError, match=problem) as caught:
        parsers.parse_mentions([path], load_catalog(seed_dir), dt.date(2026, 11, 23))
    assert caught.value.line == bad_line and caught.value.path == path


def test_weekly_mentions_update_in_place_and_only_changes_are_embedded(
    env, fake, monkeypatch, instance
):
    settings, defs, store = point_at(fake, env, monkeypatch, GITHUB_TOKEN="ghp-test-not-real")
    week = WEEKLY.get_partition_keys()[-1]
    start = dt.datetime.combine(dt.date.fromisoformat(week), dt.time(9), dt.UTC)
    at = int(start.timestamp())
    fake.hn_items += [
        hn_item(1, at, "Show HN: LanceDB on S3", "story"),
        hn_item(2, at + 60, "The <i>lance format</i> reads rows fast<p>really &amp; truly"),
        hn_item(3, at + 120, "pgvector only"),  # matches no term
    ]
    fake.gh_issues.append(gh_issue(7, start, "lancedb crash on open"))
    fake.gh_discussions.append(
        {
            "id": "D_1",
            "title": "LanceDB upserts",
            "body": "How?",
            "url": "https://github.com/lancedb/lancedb/discussions/1",
            "createdAt": start.isoformat().replace("+00:00", "Z"),
            "upvoteCount": 4,
            "author": {"login": "asker"},
            "comments": {"totalCount": 1},
        }
    )

    first = execute(defs, REFRESH_JOB, instance, [week])
    assert first.success
    rows = {r["key"]: r for r in store.mentions()}
    assert sorted(rows) == [
        "github|discussion:D_1",
        "github|issue:3000000007",
        "hackernews|40000001",
        "hackernews|40000002",
    ]
    comment = rows["hackernews|40000002"]
    assert comment["text"] == "The lance format reads rows fast\nreally & truly"
    assert comment["products"] == ["lance"] and comment["matched_terms"] == ["lance format"]
    assert "downloads:lance:python" in comment["metric_ids"]
    assert rows["hackernews|40000001"]["url"] == "https://news.ycombinator.com/item?id=40000001"
    assert rows["github|discussion:D_1"]["points"] == 4
    assert metadata(first, "mention_embeddings")["embedded"] == 4
    # discussions were asked of GraphQL with the token
    assert fake.count("/graphql") >= 1 and "Bearer ghp-test-not-real" in fake.authorizations

    fake.hn_items[0]["points"] = 99  # points move: the row updates, nothing is re-embedded
    second = execute(defs, REFRESH_JOB, instance, [week])
    assert second.success
    assert metadata(second, "mentions")["rows_updated"] == 1
    assert metadata(second, "mentions")["rows_inserted"] == 0
    assert store.count_rows(MENTIONS) == 4
    assert {r["key"]: r["points"] for r in store.mentions()}["hackernews|40000001"] == 99
    assert metadata(second, "mention_embeddings")["embedded"] == 0
    assert metadata(second, "mention_embeddings")["unchanged"] == 4

    fake.hn_items[1]["comment_text"] = "The lance format, now with blobs"  # text changes
    third = execute(defs, REFRESH_JOB, instance, [week])
    assert metadata(third, "mention_embeddings")["embedded"] == 1
    assert store.embeddings_info()["rows"] == 4


def test_a_failing_mention_source_keeps_what_the_others_found(env, fake, monkeypatch, instance):
    settings, defs, store = point_at(fake, env, monkeypatch)
    week = WEEKLY.get_partition_keys()[-1]
    start = dt.datetime.combine(dt.date.fromisoformat(week), dt.time(9), dt.UTC)
    fake.gh_issues.append(gh_issue(7, start, "lancedb crash on open"))
    fake.always("/api/v1/search_by_date", ("status", 503))
    result = execute(defs, REFRESH_JOB, instance, [week])
    assert not result.success
    assert [r["key"] for r in store.mentions()] == ["github|issue:3000000007"]
    [history] = store.history(run_id=result.run_id)
    assert history["status"] == "partial"
    assert "hackernews" in history["error_summary"]
