import datetime as dt

import pytest

from community_metrics.catalog import load_catalog
from community_metrics.config import PROJECT_ROOT
from community_metrics.seed import parsers
from community_metrics.seed.parsers import SeedError

TODAY = dt.date(2026, 11, 23)
CATALOG = load_catalog(PROJECT_ROOT / "seed_data")


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        # Late evening in New York is already the next day in UTC.
        (
            "Tue Oct 14 2025 21:54:55 GMT-0400 (Eastern Daylight Time)",
            dt.datetime(2025, 10, 15, 1, 54, 55, tzinfo=dt.UTC),
        ),
        (
            "Sat Mar 18 2023 14:22:48 GMT-0400 (Eastern Daylight Time)",
            dt.datetime(2023, 3, 18, 18, 22, 48, tzinfo=dt.UTC),
        ),
        # Early morning east of Greenwich is still the previous day in UTC.
        (
            "Mon Jan 05 2026 01:30:00 GMT+0530 (India Standard Time)",
            dt.datetime(2026, 1, 4, 20, 0, 0, tzinfo=dt.UTC),
        ),
        ("2024-02-20T09:01:40-05:00", dt.datetime(2024, 2, 20, 14, 1, 40, tzinfo=dt.UTC)),
    ],
)
def test_star_history_instants_convert_to_utc(text, utc):
    assert parsers.parse_instant("f.csv", 2, 2, text) == utc


@pytest.mark.parametrize("text", ["2024-02-20 09:01:40", "Foo Bar 99 2024", "Sat Mar 18 2023"])
def test_instants_without_zone_or_garbage_are_errors(text):
    with pytest.raises(SeedError, match=r"^f.csv:7:2: .*not a timestamp with a time zone"):
        parsers.parse_instant("f.csv", 7, 2, text)


def test_counts_ignore_stray_spaces_and_keep_empty_as_missing():
    assert parsers.parse_count("f", 1, 1, " 93163", "x") == 93163
    assert parsers.parse_count("f", 1, 1, "1 352 908 ", "x") == 1352908
    assert parsers.parse_count("f", 1, 1, "  ", "x") is None
    with pytest.raises(SeedError, match="negative"):
        parsers.parse_count("f", 1, 1, "-4", "x")
    with pytest.raises(SeedError, match="not a whole number"):
        parsers.parse_count("f", 1, 1, "12.5", "x")


def test_later_instant_wins_within_a_utc_date(tmp_path):
    path = tmp_path / "stars.csv"
    path.write_text(
        "Repository,Date,Stars\n"
        "lancedb/lancedb,Mon Feb 02 2026 23:00:00 GMT-0500 (Eastern Standard Time),120\n"
        "lancedb/lancedb,Tue Feb 03 2026 09:00:00 GMT+0000 (Greenwich Mean Time),150\n"
        "lancedb/lancedb,Tue Feb 03 2026 02:00:00 GMT+0000 (Greenwich Mean Time),130\n"
    )
    rows = parsers.parse_star_history([path], CATALOG, TODAY)
    # 23:00 EST on Feb 2 is 04:00 UTC on Feb 3: three points share that UTC date; 09:00 is last.
    assert [(r["day"], r["value"]) for r in rows] == [(dt.date(2026, 2, 3), 150)]
    assert rows[0]["metric_id"] == "stars:lancedb:github"


def test_snapshot_cells_map_through_the_catalog(tmp_path):
    path = tmp_path / "download_stats.csv"
    path.write_text(
        'Day,Python (lance),Rust (lancedb)\n"2025-12-30",1775906, 10239\n"2026-02-02",,22117\n'
    )
    rows = parsers.parse_snapshots([path], CATALOG, TODAY)
    assert [(r["metric_id"], r["period_end"], r["value"]) for r in rows] == [
        ("downloads:lance:python", dt.date(2025, 12, 30), 1775906),
        ("downloads:lancedb:rust", dt.date(2025, 12, 30), 10239),
        # the empty cell is a missing value, not a zero
        ("downloads:lancedb:rust", dt.date(2026, 2, 2), 22117),
    ]
    assert {r["source_window"] for r in rows} == {"discrete_snapshot"}


def test_files_are_recognised_by_header(tmp_path):
    (tmp_path / "a.csv").write_text("Repository,Date,Stars\n")
    (tmp_path / "b.csv").write_text("date,metric_id,downloads\n")
    (tmp_path / "c.csv").write_text("Day,Python (lance)\n")
    files = parsers.discover(tmp_path)
    assert [p.name for p in files.star_history] == ["a.csv"]
    assert [p.name for p in files.daily] == ["b.csv"]
    assert [p.name for p in files.snapshots] == ["c.csv"]
    (tmp_path / "d.csv").write_text("when,what\n")
    with pytest.raises(SeedError, match=r"d.csv:1:1: unrecognised header 'when,what'"):
        parsers.discover(tmp_path)


def test_conflicting_daily_values_name_both_places(tmp_path):
    path = tmp_path / "daily.csv"
    path.write_text(
        "date,metric_id,downloads\n"
        "2026-01-05,downloads:lance:rust,10\n"
        "2026-01-05,downloads:lance:rust,10\n"
        "2026-01-05,downloads:lance:rust,11\n"
    )
    with pytest.raises(SeedError, match=r"daily.csv:4:3: .* is 11 here but 10 at daily.csv:2"):
        parsers.parse_daily([path], CATALOG, TODAY)


def test_future_dates_are_rejected(tmp_path):
    path = tmp_path / "daily.csv"
    path.write_text("date,metric_id,downloads\n2026-11-24,downloads:lance:rust,10\n")
    with pytest.raises(SeedError, match=r"daily.csv:2:1: date 2026-11-24 is in the future"):
        parsers.parse_daily([path], CATALOG, TODAY)


def test_a_file_that_is_not_utf8_names_the_file_line_and_column(tmp_path):
    binary = tmp_path / "export.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(SeedError) as err:
        parsers.discover(tmp_path)
    assert str(err.value).startswith(f"{binary}:1:1: not UTF-8 text (byte 0x89)")
    assert "\n" not in str(err.value)

    binary.unlink()
    latin1 = tmp_path / "mentions.jsonl"
    ok = '{"id": "a", "kind": "post", "text": "lancedb", "occurred_at": "2026-01-05T10:00:00Z"}'
    latin1.write_bytes(ok.encode() + b'\n{"id": "b", "text": "caf\xe9 lancedb"}\n')
    files = parsers.discover(tmp_path)
    with pytest.raises(SeedError, match=r"mentions.jsonl:2:25: not UTF-8 text \(byte 0xe9\)"):
        parsers.parse_mentions(files.mentions, CATALOG, TODAY)
