"""The ClickHouse double itself, over real HTTP: it must behave as the public read-only servers do,
or tests of the project's ClickHouse client would prove nothing."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict

import httpx
import pytest

from .fake_clickhouse import (
    DOWNLOADS_TABLE,
    QUOTA_EXCEEDED,
    SERVER_VERSION,
    FakeClickHouse,
)


@pytest.fixture
def ch():
    with FakeClickHouse() as fake:
        yield fake


def get(fake: FakeClickHouse, query: str, **params: str) -> httpx.Response:
    return httpx.get(fake.url, params={"user": "play", "query": query, **params}, timeout=10)


def assert_exception(response: httpx.Response, status: int, code: int, name: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["X-ClickHouse-Exception-Code"] == str(code)
    assert response.text.startswith(f"Code: {code}. DB::Exception: ")
    assert response.text.endswith(f"({name}) (version {SERVER_VERSION})\n")


def table_exists(fake: FakeClickHouse) -> bool:
    return fake.admin_query(f"EXISTS TABLE {DOWNLOADS_TABLE}", "TabSeparated").strip() == "1"


SUMS = f"""
SELECT project, sum(count) AS downloads
FROM {DOWNLOADS_TABLE}
WHERE project IN {{names:Array(String)}} AND date >= {{start:Date}}
GROUP BY project
ORDER BY project
FORMAT JSONEachRow
"""


def test_parameterised_sums_match_python_over_unmerged_parts(ch):
    rng = random.Random(7)
    # Distinct on ClickPy's sorting key (project, version, date, installer); `type` is not in it.
    keys = [
        (project, version, dt.date(2024, 1, 1) + dt.timedelta(days=day), installer, kind)
        for project in ("lancedb", "pylance", "numpy")
        for version in ("0.1.0", "0.2.0")
        for day in range(30)
        for installer in ("pip", "uv", "poetry")
        for kind in [rng.choice(("bdist_wheel", "sdist"))]
    ]
    first = [(*key, rng.randint(1, 1000)) for key in keys]
    again = [(*key, rng.randint(1, 50)) for key in rng.sample(keys, 300)]
    ch.insert_downloads(first)
    ch.insert_downloads(again)  # same keys in a second part: the table holds both rows
    stored = ch.admin_query(f"SELECT count() AS n FROM {DOWNLOADS_TABLE}")
    assert json.loads(stored)["n"] == len(keys) + 300

    start = dt.date(2024, 1, 10)
    expected: dict[str, int] = defaultdict(int)
    for project, _, day, _, _, count in first + again:
        if project in ("lancedb", "pylance") and day >= start:
            expected[project] += count
    params = {"param_names": "['lancedb','pylance']", "param_start": start.isoformat()}

    by_get = get(ch, SUMS, **params)
    by_post = httpx.post(ch.url, params={"user": "play", **params}, content=SUMS, timeout=10)
    for response in (by_get, by_post):
        assert response.status_code == 200, response.text
        assert response.headers["X-ClickHouse-Format"] == "JSONEachRow"
        assert int(json.loads(response.headers["X-ClickHouse-Summary"])["read_rows"]) > 0
        rows = [json.loads(line) for line in response.text.splitlines()]
        assert rows == [{"project": p, "downloads": expected[p]} for p in ("lancedb", "pylance")]

    per_day = ch.admin_query(
        "SELECT sum(count) AS n FROM pypi.pypi_downloads_per_day WHERE project = 'numpy'"
    )
    assert json.loads(per_day)["n"] == sum(r[5] for r in first + again if r[0] == "numpy")
    assert ch.queries() == [SUMS, SUMS]
    assert ch.requests[0]["params"]["param_names"] == "['lancedb','pylance']"
    assert ch.requests[0]["user"] == "play"


def test_sql_in_a_parameter_value_is_only_a_string(ch):
    ch.insert_downloads([("lancedb", "0.1.0", dt.date(2024, 1, 1), "pip", "sdist", 3)])
    payload = f"x'); DROP TABLE {DOWNLOADS_TABLE}; --"
    query = f"SELECT count() FROM {DOWNLOADS_TABLE} WHERE project = {{p:String}}"
    response = get(ch, query, param_p=payload)
    assert (response.status_code, response.text) == (200, "0\n")
    as_array = "['" + payload.replace("'", "\\'") + "']"
    response = get(ch, SUMS, param_names=as_array, param_start="2024-01-01")
    assert (response.status_code, response.text) == (200, "")
    assert table_exists(ch)
    echoed = get(ch, "SELECT {p:String} AS p FORMAT JSONEachRow", param_p=payload)
    assert json.loads(echoed.text) == {"p": payload}


def test_multi_statements_are_refused_but_semicolons_in_literals_are_not(ch):
    response = get(ch, f"SELECT 1; DROP TABLE {DOWNLOADS_TABLE}")
    assert_exception(response, 400, 62, "SYNTAX_ERROR")
    assert "Multi-statements are not allowed" in response.text
    assert table_exists(ch)
    assert get(ch, "SELECT ';' AS s, `a;b` FROM (SELECT 1 AS `a;b`) -- ; x\n;").text == ";\t1\n"


@pytest.mark.parametrize(
    "query",
    [
        f"INSERT INTO {DOWNLOADS_TABLE} (project, count) VALUES ('x', 1)",
        f"DROP TABLE {DOWNLOADS_TABLE}",
        "CREATE TABLE t (a Int8) ENGINE = Memory",
        "SET max_threads = 1",
        "USE pypi",
    ],
)
def test_writes_are_refused(ch, query):
    response = get(ch, query)
    assert_exception(response, 500, 164, "READONLY")
    assert "play: Cannot execute query in readonly mode" in response.text
    assert table_exists(ch)
    assert ch.admin_query("SELECT currentDatabase() AS d") == '{"d":"default"}\n'


def test_into_outfile_is_refused(ch):
    assert_exception(get(ch, "SELECT 1 INTO OUTFILE 'x.tsv'"), 500, 358, "INTO_OUTFILE_NOT_ALLOWED")


def test_unknown_users_and_passwords_are_refused(ch):
    for response in (
        get(ch, "SELECT 1", user="nobody"),
        httpx.get(ch.url, params={"query": "SELECT 1"}, headers={"X-ClickHouse-User": "x"}),
        get(ch, "SELECT 1", password="secret"),
        httpx.get(ch.url, params={"query": "SELECT 1"}),  # no user: `default`, unknown here
    ):
        assert_exception(response, 403, 516, "AUTHENTICATION_FAILED")
    ok = httpx.get(ch.url, params={"query": "SELECT 1"}, headers={"X-ClickHouse-User": "play"})
    assert (ok.status_code, ok.text) == (200, "1\n")
    assert [r["user"] for r in ch.requests] == ["nobody", "x", "play", "default", "play"]


def test_unknown_settings_are_refused_and_values_are_bound(ch):
    assert_exception(get(ch, "SELECT 1", no_such_setting="1"), 404, 115, "UNKNOWN_SETTING")
    hostile = get(ch, "SELECT 1", session_timezone=f"UTC'; DROP TABLE {DOWNLOADS_TABLE}; --")
    assert_exception(hostile, 400, 36, "BAD_ARGUMENTS")
    assert table_exists(ch)


def test_fail_next_and_delay_next(ch):
    ch.fail_next(2, 500, QUOTA_EXCEEDED)
    for _ in range(2):
        failed = get(ch, "SELECT 1")
        assert (failed.status_code, failed.text) == (500, QUOTA_EXCEEDED)
        assert failed.headers["X-ClickHouse-Exception-Code"] == "201"
    assert get(ch, "SELECT 1").text == "1\n"

    ch.delay_next(1, 1.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(ch.url, params={"user": "play", "query": "SELECT 2"}, timeout=0.3)
    assert get(ch, "SELECT 3").text == "3\n"
    assert ch.queries() == ["SELECT 1"] * 3 + ["SELECT 2", "SELECT 3"]


@pytest.mark.parametrize("quoted", [True, False])
def test_quote_64bit_integers(quoted):
    query = "SELECT toUInt64(1) AS u, toInt64(-2) AS i, toUInt32(3) AS s FORMAT JSONEachRow"
    with FakeClickHouse(quote_64bit_integers=quoted) as fake:
        answers = {
            get(fake, query).text,
            # An older server quotes whatever the client asks; 25.8 honours the client.
            get(fake, query, output_format_json_quote_64bit_integers="0").text,
        }
        if not quoted:
            asked = get(fake, query, output_format_json_quote_64bit_integers="1").text
            assert asked == '{"u":"1","i":"-2","s":3}\n'
    wanted = '{"u":"1","i":"-2","s":3}\n' if quoted else '{"u":1,"i":-2,"s":3}\n'
    assert answers == {wanted}


def test_a_server_in_new_york_and_the_clients_session_timezone():
    """An event at 02:00 UTC is on the previous day in New York.

    As on a real server whose timezone is not UTC, session_timezone=UTC changes how created_at is
    rendered and how literals are parsed, but toDate(created_at) keeps the column's implicit
    (server) timezone: only an explicit toDate(created_at, 'UTC') is right on every server.
    """
    at = dt.datetime(2024, 3, 5, 2, 0)
    query = (
        "SELECT toDate(created_at), toDate(created_at, 'UTC'), created_at, "
        "countIf(created_at >= '2024-03-05 00:00:00'), toInt8(event_type), toInt8(action) "
        "FROM github_events GROUP BY ALL"
    )
    with FakeClickHouse(server_timezone="America/New_York") as fake:
        fake.insert_events([("WatchEvent", "started", "lancedb/lancedb", "alice", at)])
        forgot = get(fake, query)
        utc = get(fake, query, session_timezone="UTC")
        after = get(fake, query)
    assert forgot.text == "2024-03-04\t2024-03-05\t2024-03-04 21:00:00\t0\t15\t15\n"
    assert forgot.headers["X-ClickHouse-Timezone"] == "America/New_York"
    assert utc.text == "2024-03-04\t2024-03-05\t2024-03-05 02:00:00\t1\t15\t15\n"
    assert after.text == forgot.text  # a URL setting lasts one query


def test_max_result_rows_with_throw(ch):
    at = dt.datetime(2024, 3, 5, 12, 0)
    ch.insert_events(
        [("WatchEvent", "started", "lancedb/lancedb", login, at) for login in ("a", "b")]
    )
    query = "SELECT actor_login FROM github_events ORDER BY actor_login"
    limited = get(ch, query, max_result_rows="1", result_overflow_mode="throw")
    assert_exception(limited, 500, 396, "TOO_MANY_ROWS_OR_BYTES")
    assert get(ch, query).text == "a\nb\n"


def test_formats(ch):
    assert get(ch, "SELECT 1 AS n").headers["X-ClickHouse-Format"] == "TabSeparated"
    compact = get(ch, "SELECT 1 AS n", default_format="JSONCompact")
    assert compact.headers["X-ClickHouse-Format"] == "JSONCompact"
    assert compact.json()["data"] == [[1]]
    explicit = get(ch, "SELECT 1 AS n FORMAT JSON", default_format="JSONCompact")
    assert explicit.headers["X-ClickHouse-Format"] == "JSON"
    assert explicit.json()["data"] == [{"n": 1}]
