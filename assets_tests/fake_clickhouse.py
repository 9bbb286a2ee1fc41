"""A test double of ClickHouse's HTTP interface backed by a real ClickHouse engine (chdb).

It stands in for the public read-only endpoints the project reads (ClickPy's `pypi` database and
the `github_events` archive on play.clickhouse.com), so the project's real SQL runs offline
against the real tables' schemas. Parsing, parameter binding, settings, formats and errors are
ClickHouse's own; what the double adds is the HTTP layer of a server whose users are read-only:
authentication, refusal of writes and of multi-statements, per-query URL settings, injected faults
and a log of what was asked.

chdb embeds one server per process and it is not thread-safe: queries are serialised, and only one
FakeClickHouse can be open at a time in a process.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

try:
    import chdb
except ImportError:  # a loud error, not a skip: the archive tests must run wherever tests do
    raise ImportError(
        "the archive tests need chdb, in the `clickhouse` dependency group: run the tests as "
        "the README says, `uv run --locked --group clickhouse pytest`"
    ) from None

SERVER_VERSION = "25.8.1.1"

# Canned bodies for fail_next, worded as the real server words them. Real statuses: 500 for the
# quota and concurrency errors, 408 for TIMEOUT_EXCEEDED (see _HTTP_STATUS).
QUOTA_EXCEEDED = (
    "Code: 201. DB::Exception: Quota for user `play` for 3600s has been exceeded: "
    "queries = 1001/1000. Interval will end at 2025-09-01 13:00:00. "
    f"Name of quota template: `play`. (QUOTA_EXCEEDED) (version {SERVER_VERSION})"
)
TOO_MANY_SIMULTANEOUS_QUERIES = (
    "Code: 202. DB::Exception: Too many simultaneous queries for user play. "
    f"Current: 8, maximum: 8. (TOO_MANY_SIMULTANEOUS_QUERIES) (version {SERVER_VERSION})"
)
TIMEOUT_EXCEEDED = (
    "Code: 159. DB::Exception: Timeout exceeded: elapsed 60000.512 ms, maximum: 60000 ms. "
    f"(TIMEOUT_EXCEEDED) (version {SERVER_VERSION})"
)

DOWNLOADS_TABLE = "pypi.pypi_downloads_per_day_by_version_by_installer_by_type"
DOWNLOADS_PER_DAY_TABLE = "pypi.pypi_downloads_per_day"
EVENTS_TABLE = "default.github_events"
DOWNLOAD_COLUMNS = ("project", "version", "date", "installer", "type", "count")
EVENT_COLUMNS = ("event_type", "action", "repo_name", "actor_login", "created_at")

# ClickPy's DDL (github.com/ClickHouse/clickpy, scripts/create_tables.sh). The real sorting key
# leaves `type` out, so a merge would keep an arbitrary `type` per key; merges are stopped below,
# so every insert stays a separate, unmerged part, as recent data is on the real server.
_PYPI_DDL = (
    "CREATE DATABASE pypi",
    f"""CREATE TABLE {DOWNLOADS_TABLE}
    (
        `project` String,
        `version` String,
        `date` Date,
        `installer` String,
        `type` LowCardinality(String),
        `count` Int64
    )
    ENGINE = SummingMergeTree
    ORDER BY (project, version, date, installer)""",
    f"""CREATE TABLE {DOWNLOADS_PER_DAY_TABLE}
    (
        `date` Date,
        `project` String,
        `count` Int64
    )
    ENGINE = SummingMergeTree
    ORDER BY (project, date)""",
    f"SYSTEM STOP MERGES {DOWNLOADS_TABLE}",
    f"SYSTEM STOP MERGES {DOWNLOADS_PER_DAY_TABLE}",
)

# The play server's table, as in ClickHouse's docs ("GitHub Events Dataset").
_EVENTS_DDL = f"""CREATE TABLE {EVENTS_TABLE}
(
    `file_time` DateTime,
    `event_type` Enum8('CommitCommentEvent' = 1, 'CreateEvent' = 2, 'DeleteEvent' = 3,
        'ForkEvent' = 4, 'GollumEvent' = 5, 'IssueCommentEvent' = 6, 'IssuesEvent' = 7,
        'MemberEvent' = 8, 'PublicEvent' = 9, 'PullRequestEvent' = 10,
        'PullRequestReviewCommentEvent' = 11, 'PushEvent' = 12, 'ReleaseEvent' = 13,
        'SponsorshipEvent' = 14, 'WatchEvent' = 15, 'GistEvent' = 16, 'FollowEvent' = 17,
        'DownloadEvent' = 18, 'PullRequestReviewEvent' = 19, 'ForkApplyEvent' = 20,
        'Event' = 21, 'TeamAddEvent' = 22),
    `actor_login` LowCardinality(String),
    `repo_name` LowCardinality(String),
    `created_at` DateTime,
    `updated_at` DateTime,
    `action` Enum8('none' = 0, 'created' = 1, 'added' = 2, 'edited' = 3, 'deleted' = 4,
        'opened' = 5, 'closed' = 6, 'reopened' = 7, 'assigned' = 8, 'unassigned' = 9,
        'labeled' = 10, 'unlabeled' = 11, 'review_requested' = 12,
        'review_request_removed' = 13, 'synchronize' = 14, 'started' = 15, 'published' = 16,
        'update' = 17, 'create' = 18, 'fork' = 19, 'merged' = 20),
    `comment_id` UInt64,
    `body` String,
    `path` String,
    `position` Int32,
    `line` Int32,
    `ref` LowCardinality(String),
    `ref_type` Enum8('none' = 0, 'branch' = 1, 'tag' = 2, 'repository' = 3, 'unknown' = 4),
    `creator_user_login` LowCardinality(String),
    `number` UInt32,
    `title` String,
    `labels` Array(LowCardinality(String)),
    `state` Enum8('none' = 0, 'open' = 1, 'closed' = 2),
    `locked` UInt8,
    `assignee` LowCardinality(String),
    `assignees` Array(LowCardinality(String)),
    `comments` UInt32,
    `author_association` Enum8('NONE' = 0, 'CONTRIBUTOR' = 1, 'OWNER' = 2, 'COLLABORATOR' = 3,
        'MEMBER' = 4, 'MANNEQUIN' = 5),
    `closed_at` DateTime,
    `merged_at` DateTime,
    `merge_commit_sha` String,
    `requested_reviewers` Array(LowCardinality(String)),
    `requested_teams` Array(LowCardinality(String)),
    `head_ref` LowCardinality(String),
    `head_sha` String,
    `base_ref` LowCardinality(String),
    `base_sha` String,
    `merged` UInt8,
    `mergeable` UInt8,
    `rebaseable` UInt8,
    `mergeable_state` Enum8('unknown' = 0, 'dirty' = 1, 'clean' = 2, 'unstable' = 3,
        'draft' = 4),
    `merged_by` LowCardinality(String),
    `review_comments` UInt32,
    `maintainer_can_modify` UInt8,
    `commits` UInt32,
    `additions` UInt32,
    `deletions` UInt32,
    `changed_files` UInt32,
    `diff_hunk` String,
    `original_position` UInt32,
    `commit_id` String,
    `original_commit_id` String,
    `push_size` UInt32,
    `push_distinct_size` UInt32,
    `member_login` LowCardinality(String),
    `release_tag_name` String,
    `release_name` String,
    `review_state` Enum8('none' = 0, 'approved' = 1, 'changes_requested' = 2, 'commented' = 3,
        'dismissed' = 4, 'pending' = 5)
)
ENGINE = MergeTree
ORDER BY (event_type, repo_name, created_at)"""

# Statements a read-only user may run (first keyword of ClickHouse's own formatting of the query).
_READ_KINDS = frozenset({"SELECT", "WITH", "DESCRIBE", "DESC", "SHOW", "EXPLAIN", "EXISTS"})

# URL parameters of the HTTP interface that are not settings (ClickHouse docs, "HTTP Interface").
_HTTP_PARAMS = frozenset(
    {
        "query",
        "user",
        "password",
        "database",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "role",
        "stacktrace",
        "quota_key",
    }
)

# HTTP status per exception name, as the server's exceptionCodeToHTTPStatus maps them; the rest
# answer 500.
_HTTP_STATUS: dict[str, int] = {
    "REQUIRED_PASSWORD": 401,
    **dict.fromkeys(
        (
            "UNKNOWN_USER",
            "WRONG_PASSWORD",
            "AUTHENTICATION_FAILED",
            "SET_NON_GRANTED_ROLE",
            "ACCESS_DENIED",
        ),
        403,
    ),
    **dict.fromkeys(
        (
            "BAD_ARGUMENTS",
            "CANNOT_COMPILE_REGEXP",
            "CANNOT_PARSE_TEXT",
            "CANNOT_PARSE_ESCAPE_SEQUENCE",
            "CANNOT_PARSE_QUOTED_STRING",
            "CANNOT_PARSE_DATE",
            "CANNOT_PARSE_DATETIME",
            "CANNOT_PARSE_NUMBER",
            "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
            "CANNOT_PARSE_IPV4",
            "CANNOT_PARSE_IPV6",
            "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
            "CANNOT_PARSE_UUID",
            "DUPLICATE_COLUMN",
            "ILLEGAL_COLUMN",
            "UNKNOWN_ELEMENT_IN_AST",
            "UNKNOWN_TYPE_OF_AST_NODE",
            "THERE_IS_NO_COLUMN",
            "TOO_DEEP_AST",
            "TOO_BIG_AST",
            "UNEXPECTED_AST_STRUCTURE",
            "SYNTAX_ERROR",
            "INCORRECT_DATA",
            "TYPE_MISMATCH",
            "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        ),
        400,
    ),
    **dict.fromkeys(
        (
            "UNKNOWN_TABLE",
            "UNKNOWN_FUNCTION",
            "UNKNOWN_IDENTIFIER",
            "UNKNOWN_TYPE",
            "UNKNOWN_STORAGE",
            "UNKNOWN_DATABASE",
            "UNKNOWN_SETTING",
            "UNKNOWN_DIRECTION_OF_SORTING",
            "UNKNOWN_AGGREGATE_FUNCTION",
            "UNKNOWN_FORMAT",
            "UNKNOWN_DATABASE_ENGINE",
            "UNKNOWN_TYPE_OF_QUERY",
            "UNKNOWN_ROLE",
        ),
        404,
    ),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "CANNOT_SCHEDULE_TASK": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}

_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EXCEPTION = re.compile(r"Code: (\d+)\.")
_EXCEPTION_NAME = re.compile(r"\(([A-Z][A-Z0-9_]*)\)\s*\Z")
_FORMAT_LINE = re.compile(r"FORMAT (\S+)\Z")
_SCOPE = ": In scope SELECT formatQuery("


class ClickHouseError(Exception):
    """An exception as the server reports it: code, name and message."""

    def __init__(self, code: int, name: str, message: str):
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message

    @classmethod
    def from_chdb(cls, error: Exception) -> ClickHouseError:
        """Parse chdb's `Code: N. DB::Exception: ... (NAME)` text, unwrapping rethrown ones."""
        text = re.sub(r" \(version [0-9.]+\)", "", str(error)).strip().rstrip(".")
        code = _EXCEPTION.match(text)
        name = _EXCEPTION_NAME.search(text)
        if code is None or name is None:
            return cls(1001, "STD_EXCEPTION", text)
        message = text[len(code.group(0)) : name.start()].strip()
        message = message.removeprefix("DB::Exception:").strip().rstrip(" .")
        if _EXCEPTION.match(message):
            return cls.from_chdb(Exception(message))
        return cls(int(code.group(1)), name.group(1), message)

    @property
    def status(self) -> int:
        return _HTTP_STATUS.get(self.name, 500)

    def body(self) -> str:
        message = self.message.rstrip(" .")
        suffix = f"({self.name}) (version {SERVER_VERSION})"
        return f"Code: {self.code}. DB::Exception: {message}. {suffix}\n"


def _escaped(value: str) -> str:
    """A String in ClickHouse's escaped text format, the form query parameter values take."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _content_type(fmt: str) -> str:
    lowered = fmt.lower()
    if lowered in {"json", "jsoncompact", "jsonstrings", "jsoncompactstrings", "jsoncolumns"}:
        return "application/json; charset=UTF-8"
    if lowered.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if lowered.startswith("csv"):
        return "text/csv; charset=UTF-8; header=absent"
    return "text/plain; charset=UTF-8"


def _record(row: Sequence[Any] | Mapping[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    if isinstance(row, Mapping):
        missing = [c for c in columns if c not in row]
        unknown = [k for k in row if k not in columns]
        if missing or unknown:
            raise ValueError(f"row {row!r}: missing {missing}, unknown {unknown}")
        return {c: row[c] for c in columns}
    if len(row) != len(columns):
        raise ValueError(f"row {row!r} has {len(row)} fields, expected {columns}")
    return dict(zip(columns, row, strict=True))


def _epoch_seconds(value: dt.datetime) -> int:
    """Unix time of a naive-UTC (or aware) datetime, so inserts ignore the session's timezone."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"created_at must be a datetime, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())


class FakeClickHouse:
    """ClickHouse's HTTP interface on 127.0.0.1 over a chdb session (real SQL), read-only users."""

    _open_lock = threading.Lock()
    _open: FakeClickHouse | None = None

    def __init__(
        self,
        users: Iterable[str] = ("play",),
        quote_64bit_integers: bool = False,
        server_timezone: str = "UTC",
    ):
        self.users = frozenset(users)
        self.quote_64bit_integers = quote_64bit_integers
        self.server_timezone = server_timezone
        self.url = ""
        self.requests: list[dict] = []
        self._state = threading.Lock()
        self._engine = threading.RLock()
        self._failures: list[tuple[int, str, dict[str, str]]] = []
        self._delays: list[float] = []
        self._conn: Any = None
        self._dir: str | None = None
        self._server: ThreadingHTTPServer | None = None
        self._settings: frozenset[str] = frozenset()

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> FakeClickHouse:
        with FakeClickHouse._open_lock:
            if FakeClickHouse._open is not None:
                raise RuntimeError(
                    "a FakeClickHouse is already open in this process; chdb embeds one server "
                    "per process, so close it first"
                )
            FakeClickHouse._open = self
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop()

    def _start(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="fake-clickhouse-")
        self._conn = chdb.connect(self._dir)
        # chdb fixes the server timezone per process, so a server in another timezone is
        # emulated by the session's: set before the tables are created, DateTime columns take it
        # as their implicit timezone, as they take the server's on a real server (toDate(col)
        # then ignores a client's session_timezone there too; rendering and parsing follow it).
        self._run("SET session_timezone = {tz:String}", params={"tz": self.server_timezone})
        self._run("SET implicit_select = 0")  # chdb's default is 1; a server's is 0
        for statement in (*_PYPI_DDL, _EVENTS_DDL):
            self._run(statement)
        names = self._run("SELECT name FROM system.settings", "TabSeparatedRaw")
        self._settings = frozenset(names.split())
        handler = _handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        serve = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        serve.start()  # a short poll interval keeps shutdown, hence each test, quick

    def _stop(self) -> None:
        try:
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None
            with self._engine:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
        finally:
            with FakeClickHouse._open_lock:
                if FakeClickHouse._open is self:
                    FakeClickHouse._open = None

    # -- loaders and checks (as the admin, not through HTTP) ---------------------------------

    def insert_downloads(self, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> int:
        """Insert (project, version, date, installer, type, count) rows as one part.

        Each call is a separate insert, so calling twice with the same key leaves two unmerged
        rows, which queries must `sum(count)` over. Within one call ClickHouse already sums rows
        of equal key on insert, and ClickPy's key is (project, version, date, installer): rows
        differing only in `type` become one, and rows summing to 0 are dropped.
        pypi_downloads_per_day gets the same counts summed per (date, project).
        """
        lines: list[str] = []
        per_day: dict[tuple[str, str], int] = defaultdict(int)
        for row in rows:
            rec = _record(row, DOWNLOAD_COLUMNS)
            day = rec["date"]
            if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
                raise TypeError(f"date must be a datetime.date, got {day!r}")
            count = rec["count"]
            if not isinstance(count, int) or isinstance(count, bool):
                raise TypeError(f"count must be an int, got {count!r}")
            rec["date"] = day.isoformat()
            lines.append(json.dumps(rec))
            per_day[(rec["date"], rec["project"])] += count
        daily = [
            json.dumps({"date": day, "project": project, "count": count})
            for (day, project), count in per_day.items()
        ]
        with self._engine:
            self._insert(DOWNLOADS_TABLE, DOWNLOAD_COLUMNS, lines)
            self._insert(DOWNLOADS_PER_DAY_TABLE, ("date", "project", "count"), daily)
        return len(lines)

    def insert_events(self, rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> int:
        """Insert (event_type, action, repo_name, actor_login, created_at naive UTC) rows."""
        lines: list[str] = []
        for row in rows:
            rec = _record(row, EVENT_COLUMNS)
            rec["created_at"] = _epoch_seconds(rec["created_at"])
            rec["file_time"] = rec["created_at"]
            lines.append(json.dumps(rec))
        self._insert(EVENTS_TABLE, (*EVENT_COLUMNS, "file_time"), lines)
        return len(lines)

    def admin_query(
        self, sql: str, fmt: str = "JSONEachRow", params: Mapping[str, str] | None = None
    ) -> str:
        """Run SQL directly on the engine, unrestricted, in the server's default session."""
        return self._run(sql, fmt, params)

    # -- faults and the log --------------------------------------------------------------------

    def fail_next(
        self, n: int, status: int, body: str, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next n authenticated queries with this response instead of running them."""
        answer = {"Content-Type": "text/plain; charset=UTF-8"}
        code = _EXCEPTION.match(body)
        if code is not None:
            answer["X-ClickHouse-Exception-Code"] = code.group(1)
        answer.update(headers or {})
        with self._state:
            self._failures.extend([(status, body, answer)] * n)

    def delay_next(self, n: int, seconds: float) -> None:
        """Sleep this long before answering each of the next n authenticated queries."""
        with self._state:
            self._delays.extend([seconds] * n)

    def queries(self) -> list[str]:
        """The SQL texts asked of `/`, in order."""
        with self._state:
            return [r["query"] for r in self.requests if r["path"] == "/"]

    # -- engine ------------------------------------------------------------------------------

    def _run(self, sql: str, fmt: str = "TabSeparated", params: Mapping[str, str] | None = None):
        with self._engine:
            if self._conn is None:
                raise RuntimeError("FakeClickHouse is not open")
            return self._conn.query(sql, fmt, params=dict(params or {})).bytes().decode()

    def _insert(self, table: str, columns: Sequence[str], lines: list[str]) -> None:
        if not lines:
            return
        with self._engine:
            if self._conn is None:
                raise RuntimeError("FakeClickHouse is not open")
            target = f"INSERT INTO {table} ({', '.join(columns)})"
            with self._conn.send_insert(target, "JSONEachRow") as insert:
                insert.append("\n".join(lines) + "\n")
                insert.finish()

    # -- HTTP ----------------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one HTTP request as ClickHouse's HTTP interface would."""
        split = urlsplit(target)
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        user, password = self._credentials(params, headers)
        query = params.get("query", "")
        if method == "POST" and body:
            text = body.decode("utf-8", errors="replace")
            query = f"{query}\n{text}" if query else text
        record = {"method": method, "path": split.path, "params": params, "user": user}
        record["query"] = query
        with self._state:
            self.requests.append(record)
        if split.path == "/ping":
            return 200, {"Content-Type": "text/html; charset=UTF-8"}, b"Ok.\n"
        if split.path != "/":
            text = f"There is no handle {split.path}\n\nUse / or /ping for health checks.\n"
            return 404, {"Content-Type": "text/plain; charset=UTF-8"}, text.encode()
        if user not in self.users or password:
            return self._error(
                ClickHouseError(
                    516,
                    "AUTHENTICATION_FAILED",
                    f"{user}: Authentication failed: password is incorrect, "
                    "or there is no user with such name",
                )
            )
        with self._state:
            delay = self._delays.pop(0) if self._delays else 0.0
            failure = self._failures.pop(0) if self._failures else None
        if delay:
            time.sleep(delay)
        if failure is not None:
            status, text, answer = failure
            return status, dict(answer), text.encode()
        try:
            return self._query(user, query, params, headers)
        except ClickHouseError as error:
            return self._error(error)

    @staticmethod
    def _credentials(params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[str, str]:
        user = params.get("user") or headers.get("X-ClickHouse-User")
        password = params.get("password") or headers.get("X-ClickHouse-Key") or ""
        authorization = headers.get("Authorization", "")
        if user is None and authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode("utf-8", errors="replace")
            user, _, password = decoded.partition(":")
        return user or "default", password

    def _error(self, error: ClickHouseError) -> tuple[int, dict[str, str], bytes]:
        headers = {
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(error.code),
        }
        return error.status, headers, error.body().encode()

    def _query(
        self, user: str, query: str, params: Mapping[str, str], headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        bound = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        settings = {
            k: v for k, v in params.items() if k not in _HTTP_PARAMS and not k.startswith("param_")
        }
        readonly = settings.pop("readonly", None)
        if readonly not in (None, "1", "2"):
            raise ClickHouseError(
                164, "READONLY", "Cannot modify 'readonly' setting in readonly mode"
            )
        for name in settings:
            if not _SETTING_NAME.match(name) or name not in self._settings:
                raise ClickHouseError(115, "UNKNOWN_SETTING", f"Unknown setting '{name}'")
        if self.quote_64bit_integers:
            settings["output_format_json_quote_64bit_integers"] = "1"
        fmt = settings.get("default_format") or headers.get("X-ClickHouse-Format") or "TabSeparated"
        database = params.get("database") or headers.get("X-ClickHouse-Database")
        with self._engine:
            if self._conn is None:
                return 503, {"Content-Type": "text/plain; charset=UTF-8"}, b"Server is closed.\n"
            formatted = self._parse(query)
            kind = formatted.lstrip("( \n").split(None, 1)[0].upper()
            top_level = formatted.splitlines()
            if kind not in _READ_KINDS:
                raise ClickHouseError(
                    164, "READONLY", f"{user}: Cannot execute query in readonly mode"
                )
            if any(line.startswith("INTO OUTFILE") for line in top_level):
                raise ClickHouseError(
                    358, "INTO_OUTFILE_NOT_ALLOWED", "INTO OUTFILE is not allowed"
                )
            for line in top_level:
                found = _FORMAT_LINE.match(line)
                if found:
                    fmt = found.group(1)
            previous = self._apply(settings)
            try:
                if database:
                    self._use(database)
                result = self._conn.query(query, fmt, params=bound)
            except Exception as error:
                raise ClickHouseError.from_chdb(error) from error
            finally:
                if database:
                    self._use("default")
                self._restore(previous)
        data = result.bytes()
        answer = {
            "Content-Type": _content_type(fmt),
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Query-Id": params.get("query_id") or str(uuid.uuid4()),
            "X-ClickHouse-Timezone": settings.get("session_timezone") or self.server_timezone,
            "X-ClickHouse-Server-Display-Name": "fake-clickhouse",
            "X-ClickHouse-Summary": json.dumps(
                {
                    "read_rows": str(result.rows_read()),
                    "read_bytes": str(result.bytes_read()),
                    "written_rows": "0",
                    "written_bytes": "0",
                    "total_rows_to_read": str(result.rows_read()),
                    "result_bytes": str(len(data)),
                    "elapsed_ns": str(int(result.elapsed() * 1e9)),
                },
                separators=(",", ":"),
            ),
        }
        accepts = headers.get("Accept-Encoding", "")
        if settings.get("enable_http_compression") in ("1", "true") and "gzip" in accepts:
            data = gzip.compress(data)
            answer["Content-Encoding"] = "gzip"
        return 200, answer, data

    def _parse(self, query: str) -> str:
        """ClickHouse's own formatting of the query, which refuses multi-statements."""
        try:
            out = self._conn.query(
                "SELECT formatQuery({q:String}) AS q", "JSONEachRow", params={"q": _escaped(query)}
            )
        except Exception as error:
            text = str(error)
            scope = text.rfind(_SCOPE)
            if scope != -1:
                name = _EXCEPTION_NAME.search(text)
                text = text[:scope].rstrip(" .") + (f". ({name.group(1)})" if name else "")
            raise ClickHouseError.from_chdb(Exception(text)) from error
        return json.loads(out.bytes())["q"]

    def _apply(self, settings: Mapping[str, str]) -> list[tuple[str, str, int]]:
        """SET the request's settings in the session, returning what to restore afterwards."""
        if not settings:
            return []
        names = "[" + ",".join(f"'{n}'" for n in settings) + "]"
        out = self._conn.query(
            "SELECT name, value, changed FROM system.settings WHERE name IN {n:Array(String)}",
            "JSONEachRow",
            params={"n": names},
        )
        previous = [
            (r["name"], r["value"], r["changed"]) for r in map(json.loads, out.bytes().splitlines())
        ]
        assignments = ", ".join(f"{name} = {{v{i}:String}}" for i, name in enumerate(settings))
        values = {f"v{i}": _escaped(v) for i, v in enumerate(settings.values())}
        try:
            self._conn.query(f"SET {assignments}", "TabSeparated", params=values)
        except Exception as error:
            self._restore(previous)
            raise ClickHouseError.from_chdb(error) from error
        return previous

    def _restore(self, previous: list[tuple[str, str, int]]) -> None:
        if not previous:
            return
        parts = []
        values = {}
        for i, (name, value, changed) in enumerate(previous):
            if changed:
                parts.append(f"{name} = {{v{i}:String}}")
                values[f"v{i}"] = _escaped(value)
            else:
                parts.append(f"{name} = DEFAULT")
        self._conn.query(f"SET {', '.join(parts)}", "TabSeparated", params=values)

    def _use(self, database: str) -> None:
        try:
            self._conn.query("USE {db:Identifier}", "TabSeparated", params={"db": database})
        except Exception as error:
            raise ClickHouseError.from_chdb(error) from error


def _handler(fake: FakeClickHouse) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline().strip():
                            pass
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                body = b"".join(chunks)
            else:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            return body

        def _answer(self, method: str) -> None:
            try:
                status, headers, data = fake.handle(method, self.path, self.headers, self._body())
            except Exception as error:  # the double's own fault: say so rather than hang up
                status, headers = 500, {"Content-Type": "text/plain; charset=UTF-8"}
                data = f"Code: 1001. DB::Exception: {error!r}. (STD_EXCEPTION)\n".encode()
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler
