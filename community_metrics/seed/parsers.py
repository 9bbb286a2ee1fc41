"""Parsers for the seed files. Plain Python: no Dagster, no LanceDB.

Seed files are recognised by their header, not their name, so users can name exports freely:
- `Day,<seed_column>,...`          monthly download snapshots (one stats row per cell)
- `Repository,Date,Stars`          a star-history.com export (cumulative stars per instant)
- `date,metric_id,downloads`       daily downloads in long form (BigQuery / npm range export)
Files named `*.jsonl` hold example community mentions, one JSON object per line.
Every problem raises SeedError with file:line:column; a file is parsed completely before any
row of it is returned, so a bad file contributes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from community_metrics.catalog import Catalog
from community_metrics.sources.mention import FoundMention

SNAPSHOT_FIRST_COLUMN = "Day"
STAR_HEADER = ["Repository", "Date", "Stars"]
DAILY_HEADER = ["date", "metric_id", "downloads"]
PROVENANCE = "csv_seed"
_JS_DATE = re.compile(
    r"^(?:[A-Z][a-z]{2} )?(?P<mon>[A-Z][a-z]{2}) (?P<day>\d{1,2}) (?P<year>\d{4}) "
    r"(?P<time>\d{2}:\d{2}:\d{2}) GMT(?P<off>[+-]\d{4})(?: \([^)]*\))?$"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
        start=1,
    )
}


class SeedError(ValueError):
    """A seed file is malformed; str() is `file:line:column: problem. fix`."""

    def __init__(self, path: Path, line: int, column: int, message: str):
        self.path, self.line, self.column = Path(path), line, column
        super().__init__(f"{path}:{line}:{column}: {message}")


@dataclass
class SeedFiles:
    snapshots: list[Path] = field(default_factory=list)
    star_history: list[Path] = field(default_factory=list)
    daily: list[Path] = field(default_factory=list)
    mentions: list[Path] = field(default_factory=list)


def _decode(path: Path, data: bytes, first_line: int = 1) -> str:
    """UTF-8 text (a BOM is allowed); other bytes are a SeedError at their line and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SeedError(
            path,
            line,
            column,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x}): save the file as UTF-8 "
            "(e.g. CSV UTF-8 in a spreadsheet), or move it out of the seed folder if it is "
            "not a seed file",
        ) from None


def read_text(path: Path) -> str:
    return _decode(path, path.read_bytes())


def _header(path: Path) -> list[str]:
    """The first non-blank row, read alone: a bad byte further down is the file's own parse
    error, not a reason to refuse every seed file."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            cells = next(csv.reader([_decode(path, raw, number)]), [])
            if any(c.strip() for c in cells):
                return [c.strip() for c in cells]
    return []


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) for every non-blank line, header included."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        for cells in reader:
            if cells and any(c.strip() for c in cells):
                yield reader.line_num, cells
    except csv.Error as exc:
        raise SeedError(path, reader.line_num, 1, f"not valid CSV: {exc}") from None


def discover(seed_dir: Path) -> SeedFiles:
    """Classify every *.csv in the seed folder by its header; an unknown header is an error."""
    files = SeedFiles()
    for path in sorted(Path(seed_dir).glob("*.csv")):
        header = _header(path)
        if header == STAR_HEADER:
            files.star_history.append(path)
        elif header == DAILY_HEADER:
            files.daily.append(path)
        elif header and header[0] == SNAPSHOT_FIRST_COLUMN:
            files.snapshots.append(path)
        else:
            raise SeedError(
                path,
                1,
                1,
                f"unrecognised header {','.join(header)!r}: seed CSV files start with "
                f"'Day,<column>...', '{','.join(STAR_HEADER)}' or '{','.join(DAILY_HEADER)}'; "
                "fix the header or move the file out of the seed folder",
            )
    files.mentions = sorted(Path(seed_dir).glob("*.jsonl"))
    return files


_MENTION_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,100}$")
MENTION_KINDS = ("story", "comment", "issue", "pull_request", "discussion", "post")
MENTION_REQUIRED = {"id": str, "kind": str, "text": str, "occurred_at": str}
MENTION_OPTIONAL = {"title": str, "url": str, "author": str, "points": int, "comment_count": int}


def _mention(path: Path, line: int, record, catalog: Catalog, today: dt.date) -> FoundMention:
    if not isinstance(record, dict):
        raise SeedError(path, line, 1, "each line must be one JSON object")
    unknown = sorted(set(record) - set(MENTION_REQUIRED) - set(MENTION_OPTIONAL))
    if unknown:
        raise SeedError(
            path,
            line,
            1,
            f"unknown field {unknown[0]!r}; fields are "
            f"{', '.join([*MENTION_REQUIRED, *MENTION_OPTIONAL])}",
        )
    for name, kind in {**MENTION_REQUIRED, **MENTION_OPTIONAL}.items():
        value = record.get(name)
        if value is None and name in MENTION_REQUIRED:
            raise SeedError(path, line, 1, f"field {name!r} is required")
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise SeedError(path, line, 1, f"field {name!r} must be a {kind.__name__}")
        if kind is int and value is not None and value < 0:
            raise SeedError(path, line, 1, f"field {name!r} must be >= 0")
    if not _MENTION_ID.match(record["id"]):
        raise SeedError(
            path, line, 1, "field 'id' must be 1-100 letters, digits or . _ : @ - (no spaces)"
        )
    if record["kind"] not in MENTION_KINDS:
        raise SeedError(path, line, 1, f"field 'kind' must be one of {', '.join(MENTION_KINDS)}")
    try:
        at = dt.datetime.fromisoformat(record["occurred_at"].replace("Z", "+00:00"))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise SeedError(
            path,
            line,
            1,
            "field 'occurred_at' must be an ISO time with a zone, e.g. 2026-03-02T14:05:00Z",
        )
    _not_future(path, line, 1, at.date(), today)
    searched = f"{record.get('title') or ''} {record['text']}".casefold()
    terms = {t for t in catalog.search_terms() if t.casefold() in searched}
    if not terms:
        raise SeedError(
            path,
            line,
            1,
            "the mention contains none of the catalog's search terms "
            f"({', '.join(catalog.search_terms()) or 'none defined'}): it relates to no product",
        )
    return FoundMention(
        source="example",
        source_id=record["id"],
        kind=record["kind"],
        created_at=at.astimezone(dt.UTC),
        title=record.get("title"),
        body=record["text"],
        body_format="text",
        url=record.get("url"),
        author=record.get("author"),
        points=record.get("points"),
        comment_count=record.get("comment_count"),
        matched_terms=terms,
    )


def parse_mentions(paths: list[Path], catalog: Catalog, today: dt.date) -> list[FoundMention]:
    """Example mentions (JSON Lines); ids must be unique across files."""
    out: list[FoundMention] = []
    seen: dict[str, tuple[Path, int]] = {}
    for path in paths:
        for line, raw in enumerate(read_text(path).split("\n"), start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise SeedError(path, line, exc.colno, f"not valid JSON: {exc.msg}") from None
            mention = _mention(path, line, record, catalog, today)
            if mention.source_id in seen:
                first = seen[mention.source_id]
                raise SeedError(
                    path,
                    line,
                    1,
                    f"id {mention.source_id!r} already used at {first[0].name}:{first[1]}",
                )
            seen[mention.source_id] = (path, line)
            out.append(mention)
    return out


def parse_count(path: Path, line: int, column: int, cell: str, name: str) -> int | None:
    """A non-negative whole number; stray spaces are ignored, an empty cell is missing (None)."""
    text = re.sub(r"\s+", "", cell)
    if not text:
        return None
    if re.fullmatch(r"-\d+", text):
        raise SeedError(path, line, column, f"negative value {cell!r} in {name!r}: counts are >= 0")
    if not text.isdigit():
        raise SeedError(
            path,
            line,
            column,
            f"{cell!r} in {name!r} is not a whole number (digits only, e.g. 1234)",
        )
    return int(text)


def parse_day(path: Path, line: int, column: int, cell: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(cell.strip())
    except ValueError:
        raise SeedError(
            path, line, column, f"{cell!r} in {name!r} is not a date: write YYYY-MM-DD"
        ) from None


def parse_instant(path: Path, line: int, column: int, cell: str) -> dt.datetime:
    """A star-history timestamp (JavaScript Date string, or ISO 8601 with offset) in UTC."""
    text = cell.strip()
    match = _JS_DATE.match(text)
    if match and match["mon"] in _MONTHS:
        try:
            offset = int(match["off"][1:3]) * 60 + int(match["off"][3:5])
            sign = 1 if match["off"][0] == "+" else -1
            tz = dt.timezone(sign * dt.timedelta(minutes=offset))
            local = dt.datetime.strptime(
                f"{match['year']}-{_MONTHS[match['mon']]:02d}-{int(match['day']):02d} "
                f"{match['time']}",
                "%Y-%m-%d %H:%M:%S",
            )
            return local.replace(tzinfo=tz).astimezone(dt.UTC)
        except ValueError:
            pass
    else:
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(dt.UTC)
    raise SeedError(
        path,
        line,
        column,
        f"{cell!r} in 'Date' is not a timestamp with a time zone: use the star-history export "
        "form 'Sat Mar 18 2023 14:22:48 GMT-0400 (Eastern Daylight Time)' or ISO 8601 with offset",
    )


def _check_width(path: Path, line: int, cells: list[str], width: int) -> None:
    if len(cells) != width:
        raise SeedError(
            path,
            line,
            min(len(cells), width) + 1,
            f"expected {width} columns, found {len(cells)}: check for a missing or extra comma",
        )


def _not_future(path: Path, line: int, column: int, day: dt.date, today: dt.date) -> None:
    if day > today:
        raise SeedError(path, line, column, f"date {day} is in the future (today is {today})")


def parse_snapshots(paths: list[Path], catalog: Catalog, today: dt.date) -> list[dict]:
    """download_stats.csv files: each non-empty cell is one `discrete_snapshot` stats row."""
    columns = catalog.by_seed_column()
    seen: dict[tuple[str, dt.date], tuple[str, int]] = {}
    out: list[dict] = []
    for path in paths:
        rows = _rows(path)
        _, header = next(rows)
        metrics = []
        for index, name in enumerate(header[1:], start=2):
            name = name.strip()
            if name not in columns:
                raise SeedError(
                    path,
                    1,
                    index,
                    f"unknown column {name!r}: add a metric with seed_column = {name!r} to "
                    f"{catalog.path.name}, or remove the column "
                    f"(known: {', '.join(sorted(columns))})",
                )
            if columns[name] in metrics:
                raise SeedError(path, 1, index, f"column {name!r} appears twice")
            metrics.append(columns[name])
        for line, cells in rows:
            _check_width(path, line, cells, len(header))
            day = parse_day(path, line, 1, cells[0], SNAPSHOT_FIRST_COLUMN)
            _not_future(path, line, 1, day, today)
            for index, (metric, cell) in enumerate(zip(metrics, cells[1:], strict=True), start=2):
                value = parse_count(path, line, index, cell, header[index - 1].strip())
                if value is None:
                    continue
                slot = (metric.metric_id, day)
                if slot in seen:
                    raise SeedError(
                        path,
                        line,
                        index,
                        f"{metric.display_name} on {day} is already given at "
                        f"{seen[slot][0]}:{seen[slot][1]}: keep one snapshot per day",
                    )
                seen[slot] = (path.name, line)
                out.append(
                    {
                        "metric_id": metric.metric_id,
                        "source_window": "discrete_snapshot",
                        "period_start": None,
                        "period_end": day,
                        "value": value,
                        "unit": metric.unit,
                        "days_observed": None,
                        "is_carried_forward": False,
                        "observed_on": day,
                        "provenance": PROVENANCE,
                        "recomputed": False,
                        "previous_value": None,
                    }
                )
    return out


def parse_star_history(paths: list[Path], catalog: Catalog, today: dt.date) -> list[dict]:
    """Star-history exports: one observation per repo and UTC date; the later instant wins."""
    repos = catalog.stars_by_repo()
    best: dict[tuple[str, dt.date], tuple[dt.datetime, int, str]] = {}
    for path in paths:
        rows = _rows(path)
        next(rows)
        for line, cells in rows:
            _check_width(path, line, cells, 3)
            repo = cells[0].strip()
            if repo not in repos:
                raise SeedError(
                    path,
                    line,
                    1,
                    f"unknown repository {repo!r}: add a stars metric with subject = {repo!r} to "
                    f"{catalog.path.name} (known: {', '.join(sorted(repos))})",
                )
            instant = parse_instant(path, line, 2, cells[1])
            _not_future(path, line, 2, instant.date(), today)
            stars = parse_count(path, line, 3, cells[2], "Stars")
            if stars is None:
                raise SeedError(path, line, 3, "empty 'Stars': every row needs a star count")
            slot = (repos[repo].metric_id, instant.date())
            if slot not in best or instant >= best[slot][0]:
                best[slot] = (instant, stars, path.name)
    return [
        {"metric_id": m, "day": day, "value": v, "provenance": PROVENANCE, "source_ref": ref}
        for (m, day), (_, v, ref) in sorted(best.items())
    ]


def parse_daily(paths: list[Path], catalog: Catalog, today: dt.date) -> list[dict]:
    """Long-form daily downloads: one observation per (date, metric_id)."""
    seen: dict[tuple[str, dt.date], tuple[int, str, int]] = {}
    out: list[dict] = []
    for path in paths:
        rows = _rows(path)
        next(rows)
        for line, cells in rows:
            _check_width(path, line, cells, 3)
            day = parse_day(path, line, 1, cells[0], "date")
            _not_future(path, line, 1, day, today)
            metric_id = cells[1].strip()
            metric = catalog.get(metric_id)
            if metric is None or metric.family != "downloads":
                known = sorted(m.metric_id for m in catalog if m.family == "downloads")
                raise SeedError(
                    path,
                    line,
                    2,
                    f"unknown downloads metric {metric_id!r}: add it to {catalog.path.name} or "
                    f"use one of {', '.join(known)}",
                )
            value = parse_count(path, line, 3, cells[2], "downloads")
            if value is None:
                raise SeedError(
                    path, line, 3, "empty 'downloads': leave the day out instead of the value"
                )
            slot = (metric_id, day)
            if slot in seen:
                prev_value, prev_file, prev_line = seen[slot]
                if prev_value != value:
                    raise SeedError(
                        path,
                        line,
                        3,
                        f"{metric_id} on {day} is {value} here but {prev_value} at "
                        f"{prev_file}:{prev_line}: keep one value per day",
                    )
                continue
            seen[slot] = (value, path.name, line)
            out.append(
                {
                    "metric_id": metric_id,
                    "day": day,
                    "value": value,
                    "provenance": PROVENANCE,
                    "source_ref": path.name,
                }
            )
    return out
