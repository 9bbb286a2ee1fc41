"""The read-only API over a store seeded by the real pipeline, through HTTP (TestClient)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import time
import xml.etree.ElementTree as ET

import dagster as dg
import numpy as np
import pytest
from fastapi.testclient import TestClient

from community_metrics import weeks
from community_metrics.api import create_app, open_reader
from community_metrics.api.snapshot import SNAPSHOT_TABLES, Snapshots
from community_metrics.config import PROJECT_ROOT, ConfigError, load_settings
from community_metrics.definitions import build_definitions
from community_metrics.jobs import SEED_JOB, WEEKLY_JOB
from community_metrics.runner import execute
from community_metrics.store import StoreReader, StoreWriter

API = "/api/v1"
SEEDED_WEEKS = 30


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A store seeded from seed_data/ with the weekly metrics of the last 30 weeks."""
    tmp = tmp_path_factory.mktemp("api")
    shutil.copytree(PROJECT_ROOT / "seed_data", tmp / "seed")
    env = {"CM_DB_PATH": str(tmp / "db"), "CM_SEED_DIR": str(tmp / "seed")}
    settings = load_settings(env)
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        assert execute(defs, SEED_JOB, instance).success
        assert execute(defs, WEEKLY_JOB, instance, weeks.closed_weeks(SEEDED_WEEKS)).success
        yield env, defs, instance


def client_for(env, **extra) -> TestClient:
    return TestClient(create_app(load_settings({**env, **extra})))


@pytest.fixture(scope="module")
def client(seeded):
    return client_for(seeded[0], CM_API_RATE_LIMIT="0")


def test_definitions_series_and_compare(client):
    definitions = client.get(f"{API}/definitions").json()
    assert len(definitions) == 7
    by_id = {d["metric_id"]: d for d in definitions}
    assert by_id["stars:lance:github"]["kind"] == "stars"
    assert by_id["downloads:lancedb:nodejs"]["source"] == "npm"

    series = client.get(f"{API}/series/downloads:lancedb:python", params={"weeks": 8}).json()
    points = series["points"]
    assert [p["week"] for p in points] == weeks.closed_weeks(8)
    # the seed ends before the latest closed week: that week is missing (null), not zero
    assert points[-1]["value"] is None and points[-1]["complete"] is False
    full = [p for p in points if p["value"] is not None]
    assert full and all(p["days_observed"] == 7 and p["complete"] for p in full)
    assert all(p["provenance"] == "csv_seed" for p in full)

    compared = client.get(
        f"{API}/compare", params={"ids": "downloads:lance:python,stars:lance:github", "weeks": 8}
    ).json()
    assert compared["weeks"] == weeks.closed_weeks(8)
    python, stars = compared["series"]
    assert python["values"] == [p["value"] for p in points] or python["metric_id"] != (
        "downloads:lancedb:python"
    )
    assert len(stars["values"]) == 8 and stars["values"][-2] is not None


def test_dashboard_cards_totals_and_movers(client):
    board = client.get(f"{API}/dashboard/weekly", params={"weeks": 6}).json()
    assert board["latest_closed_week"] == weeks.closed_weeks(1)[0]
    # the newest week with data (the seed's last full week), and the week before it
    assert board["week"] == "2026-11-16" and board["previous_week"] == "2026-11-09"
    cards = {c["metric_id"]: c for c in board["metrics"]}
    assert len(cards) == 7 and all(len(c["sparkline"]) == 6 for c in cards.values())
    card = cards["downloads:lancedb:python"]
    assert card["value"] == card["sparkline"][-1] and card["previous"] == card["sparkline"][-2]
    assert card["change"] == card["value"] - card["previous"]
    assert card["pct_change"] == round(100 * card["change"] / card["previous"], 2)
    lance = next(p for p in board["products"] if p["name"] == "lance")
    assert set(lance["metrics"]) == {"downloads:lance:python", "downloads:lance:rust"}
    assert lance["value"] == sum(cards[m]["value"] for m in lance["metrics"])
    assert board["total_stars"]["value"] == sum(
        c["value"] for c in cards.values() if c["kind"] == "stars"
    )
    movers = board["movers"]
    assert movers and all(cards[m["metric_id"]]["kind"] == "downloads" for m in movers)
    assert [abs(m["pct_change"]) for m in movers] == sorted(
        (abs(m["pct_change"]) for m in movers), reverse=True
    )
    one = client.get(f"{API}/dashboard/weekly", params={"metrics": "stars:lancedb:github"}).json()
    assert [c["metric_id"] for c in one["metrics"]] == ["stars:lancedb:github"]
    assert one["products"] == []


def test_pre_rendered_sparklines_equal_the_grid_for_every_window(seeded):
    """The dashboard's sparklines are cut from rows rendered at load: they must say what the
    grid says, null for each missing week, for windows inside, across either edge of and
    wholly outside the stored weeks (one that closed after the snapshot was built)."""
    snapshot = Snapshots(
        StoreReader.connect(load_settings(seeded[0])), SNAPSHOT_TABLES, 1
    ).current()
    ids = list(snapshot.definitions)
    width = snapshot.values.shape[1]
    assert np.isnan(snapshot.values).any() and not np.isnan(snapshot.values).all()
    for start_column, count in [(0, 1), (3, 20), (-5, 8), (width - 3, 10), (width + 4, 3)]:
        first = snapshot.first_week + dt.timedelta(weeks=start_column)
        window = [first + dt.timedelta(weeks=i) for i in range(count)]
        values, _ = snapshot.grid(ids, window)
        expected = [[None if np.isnan(v) else int(v) for v in row] for row in values]
        rendered = [json.loads(line) for line in snapshot.sparklines(ids, window)]
        assert rendered == expected, (start_column, count)


def test_health_history_exports_charts_badges_and_search(client):
    health = client.get(f"{API}/health").json()
    assert health["status"] in ("ok", "stale")
    assert health["last_successful_run"]["job_name"] == WEEKLY_JOB
    assert {t["table"] for t in health["tables"]} >= {"metrics", "stats", "history"}
    # the seed stops at 2026-11-22: every metric is more than 8 days without a week or not
    age = weeks.today() - dt.date(2026, 11, 22)
    assert (health["stale_metrics"] != []) == (age > dt.timedelta(days=8))

    runs = client.get(f"{API}/history", params={"limit": 1}).json()
    assert len(runs) == 1 and runs[0]["job_name"] == WEEKLY_JOB
    assert client.get(f"{API}/history", params={"status": "failed"}).json() == []

    exported = client.get(f"{API}/export/stars:lance:github.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == SEEDED_WEEKS - 1 or len(rows) > 0
    assert {r["metric_id"] for r in rows} == {"stars:lance:github"}
    everything = list(csv.DictReader(io.StringIO(client.get(f"{API}/export.csv").text)))
    assert len({r["metric_id"] for r in everything}) == 7

    for theme in ("light", "dark"):
        svg = client.get(
            f"{API}/chart/downloads:lance:python.svg",
            params={"theme": theme, "scale": "log", "compare": "downloads:lancedb:python"},
        )
        assert svg.headers["content-type"].startswith("image/svg+xml")
        ET.fromstring(svg.text)  # well-formed
    badge = client.get(f"{API}/badge/stars:lance:github.svg")
    assert "stars" in badge.text
    ET.fromstring(badge.text)

    found = client.get(
        f"{API}/mentions/search",
        params={"q": "moving off pinecone onto lancedb halved what we pay", "k": 3},
    ).json()
    assert found["hits"][0]["key"] == "example|ex-001" and len(found["hits"]) == 3
    keyword = client.get(
        f"{API}/mentions/search", params={"q": "Electron", "mode": "keyword", "product": "lancedb"}
    ).json()
    assert "example-mentions/011" in keyword["hits"][0]["url"]


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/series/downloads:lance:python", {"weeks": 0}, "weeks"),
        ("/series/downloads:lance:python", {"weeks": 521}, "weeks"),
        ("/series/downloads:lance:python", {"weeks": "many"}, "weeks"),
        ("/compare", {}, "ids"),
        ("/compare", {"ids": " , "}, "ids"),
        ("/dashboard/weekly", {"weeks": 1}, "weeks"),
        ("/history", {"status": "bogus"}, "status"),
        ("/history", {"limit": 0}, "limit"),
        ("/mentions/search", {"q": ""}, "q"),
        ("/mentions/search", {"q": "x", "mode": "fuzzy"}, "mode"),
        ("/mentions/search", {"q": "x", "product": "no such!"}, "product"),
        ("/mentions/search", {"q": "x", "since": "0"}, "since"),
        ("/mentions/search", {"q": "x", "since": "2026-13-01"}, "since"),
        ("/chart/stars:lance:github.svg", {"theme": "neon"}, "theme"),
        ("/chart/stars:lance:github.svg", {"scale": "cubic"}, "scale"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(client, path, params, parameter):
    answer = client.get(f"{API}{path}", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["message"].startswith(f"parameter '{parameter}'")


def test_unknown_metric_404_and_other_methods_405(client):
    for path in (
        "/series/downloads:nope:x",
        "/export/downloads:nope:x.csv",
        "/chart/downloads:nope:x.svg",
        "/badge/downloads:nope:x.svg",
        "/compare?ids=stars:lance:github,downloads:nope:x",
        "/dashboard/weekly?metrics=downloads:nope:x",
    ):
        answer = client.get(f"{API}{path}")
        assert answer.status_code == 404, path
        assert "downloads:nope:x" in answer.json()["detail"]
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(f"{API}/definitions").status_code == 405


def test_etag_304_and_a_new_materialization_changes_it(seeded):
    env, defs, instance = seeded
    client = client_for(env, CM_API_RATE_LIMIT="0")
    url = f"{API}/series/downloads:lance:rust?weeks=60"
    first = client.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    known = [p["week"] for p in first.json()["points"] if p["value"] is not None]

    # the same app, no restart: a backfill of older weeks is served within the refresh
    # interval (1 s, then the snapshot loads beside the one served), with a new ETag
    older = weeks.closed_weeks(60)[: 60 - SEEDED_WEEKS]
    assert execute(defs, WEEKLY_JOB, instance, older).success
    deadline = time.monotonic() + 30
    while (second := client.get(url, headers={"If-None-Match": etag})).status_code == 304:
        assert time.monotonic() < deadline, "the new weeks were not served within 30 s"
        time.sleep(0.1)
    assert second.status_code == 200 and second.headers["etag"] != etag
    now_known = [p["week"] for p in second.json()["points"] if p["value"] is not None]
    assert len(now_known) > len(known)


def test_cors_only_for_listed_origins(seeded):
    env = seeded[0]
    url = f"{API}/definitions"
    closed = client_for(env)
    assert (
        "access-control-allow-origin"
        not in closed.get(url, headers={"Origin": "https://a.org"}).headers
    )
    opened = client_for(env, CM_API_CORS_ORIGINS="https://a.org")
    allowed = opened.get(url, headers={"Origin": "https://a.org"})
    assert allowed.headers["access-control-allow-origin"] == "https://a.org"
    assert "etag" in allowed.headers["access-control-expose-headers"].lower()
    other = opened.get(url, headers={"Origin": "https://b.org"})
    assert "access-control-allow-origin" not in other.headers
    preflight = opened.options(
        url, headers={"Origin": "https://a.org", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 200
    star = client_for(env, CM_API_CORS_ORIGINS="*")
    assert (
        star.get(url, headers={"Origin": "https://b.org"}).headers["access-control-allow-origin"]
        == "*"
    )


def test_rate_limit_per_client_with_retry_after(seeded):
    limited = client_for(seeded[0], CM_API_RATE_LIMIT="3")
    codes = [limited.get(f"{API}/definitions").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = limited.get(f"{API}/definitions")
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60


def test_the_api_cannot_change_any_table(seeded):
    env = seeded[0]
    app = create_app(load_settings({**env, "CM_API_RATE_LIMIT": "0"}))
    store = app.state.cm.store
    assert type(store) is StoreReader and not isinstance(store, StoreWriter)
    for name in ("upsert", "prepare", "ensure_tables", "write_embeddings", "build_vector_index"):
        assert not hasattr(store, name)
    before = StoreReader.connect(load_settings(env)).table_versions()
    client = TestClient(app)
    paths = [*app.openapi()["paths"], "/", "/static/app.js"]
    assert len(paths) == 13
    concrete = {
        "{metric_id}": "downloads:lance:python",
    }
    for path in paths:
        for key, value in concrete.items():
            path = path.replace(key, value)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"):
            answer = client.request(method, path, params={"ids": "stars:lance:github", "q": "x"})
            assert answer.status_code < 500, (method, path, answer.text)
    assert StoreReader.connect(load_settings(env)).table_versions() == before


def test_enterprise_mode_needs_the_read_key():
    enterprise = {
        "CM_STORAGE_MODE": "enterprise",
        "CM_LANCEDB_URI": "db://metrics",
        "CM_LANCEDB_API_KEY": "sk-write-secret",
    }
    with pytest.raises(ConfigError, match="CM_LANCEDB_READ_API_KEY") as err:
        open_reader(load_settings(enterprise))
    assert "sk-write-secret" not in str(err.value)
    # the read key alone is enough to start the API, and never enough to write
    read_only = {**enterprise, "CM_LANCEDB_READ_API_KEY": "sk-read-secret"}
    del read_only["CM_LANCEDB_API_KEY"]
    settings = load_settings(read_only)
    assert isinstance(open_reader(settings), StoreReader)
    with pytest.raises(ConfigError, match="CM_LANCEDB_API_KEY") as err:
        StoreWriter.connect(settings)
    assert "sk-read-secret" not in str(err.value)
    del read_only["CM_LANCEDB_READ_API_KEY"]
    with pytest.raises(ConfigError, match="CM_LANCEDB_READ_API_KEY"):
        load_settings(read_only)
