"""The command line as users and the runbook call it; real instance, real LanceDB."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from community_metrics.cli import main
from community_metrics.store import OBSERVATIONS

from .conftest import run_cli


def append(path: Path, line: str) -> int:
    """Append a line; return its line number."""
    text = path.read_text()
    path.write_text(text + line + "\n")
    return len(text.splitlines()) + 1


def append_bytes(path: Path, line: bytes) -> int:
    data = path.read_bytes()
    path.write_bytes(data + line + b"\n")
    return data.count(b"\n") + 1


def replace_header(path: Path, old: str, new: str) -> int:
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace(old, new)
    path.write_text("\n".join(lines) + "\n")
    return 1


CASES = {
    "unknown column": (
        "download_stats.csv",
        lambda p: replace_header(p, "Rust (lancedb)", "Go (lancedb)"),
        6,
        "unknown column 'Go (lancedb)'",
    ),
    "bad number": (
        "download_stats.csv",
        lambda p: append(p, '"2026-11-02",1,2,3,4,5x'),
        6,
        "not a whole number",
    ),
    "bad snapshot date": (
        "download_stats.csv",
        lambda p: append(p, '"2026-13-02",1,2,3,4,5'),
        1,
        "is not a date",
    ),
    "unknown repo": (
        "lance-star-history.csv",
        lambda p: append(p, "someone/else,Mon Nov 02 2026 10:00:00 GMT+0000 (GMT),5"),
        1,
        "unknown repository 'someone/else'",
    ),
    "bad star date": (
        "lance-star-history.csv",
        lambda p: append(p, "lance-format/lance,yesterday,5"),
        2,
        "not a timestamp with a time zone",
    ),
    "negative downloads": (
        "daily_downloads.csv",
        lambda p: append(p, "2025-11-16,downloads:lance:rust,-3"),
        3,
        "negative value",
    ),
    "unknown metric": (
        "daily_downloads.csv",
        lambda p: append(p, "2025-11-16,downloads:lance:ruby,3"),
        2,
        "unknown downloads metric 'downloads:lance:ruby'",
    ),
    "not utf-8": (
        "daily_downloads.csv",
        lambda p: append_bytes(p, b"2025-11-16,downloads:lance:r\xe9st,3"),
        29,
        "not UTF-8 text (byte 0xe9): save the file as UTF-8",
    ),
    "bad daily date": (
        "daily_downloads.csv",
        lambda p: append(p, "16/11/2025,downloads:lance:rust,3"),
        1,
        "is not a date",
    ),
}


def written_from(store, filename):
    if filename == "download_stats.csv":
        return store.stats(source_window="discrete_snapshot")
    return [r for r in store.read_all(OBSERVATIONS) if r["source_ref"] == filename]


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_seed_fails_with_location_and_writes_nothing_from_the_file(
    case, env, seed_dir, store, capsys
):
    filename, mutate, column, problem = CASES[case]
    path = seed_dir / filename
    line = mutate(path)
    code = main(["seed"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{path}:{line}:{column}: " in err
    assert problem in err
    assert written_from(store, filename) == []
    # the other, valid seed files were still loaded
    others = {"download_stats.csv", "lance-star-history.csv", "daily_downloads.csv"} - {filename}
    assert all(written_from(store, other) for other in others)


def test_usage_errors_exit_2(env, capsys):
    for argv in (
        ["backfill", "--from", "2026-01-05"],
        ["backfill", "--from", "yesterday", "--to", "2026-01-05"],
        ["backfill", "--from", "2026-02-01", "--to", "2026-01-05"],
        ["backfill", "--from", "2026-01-05", "--to", "2099-01-05"],
        ["refresh", "--lookback-weeks", "-1"],
        ["refresh", "--lookback-weeks", "two"],
        ["frobnicate"],
        [],
    ):
        assert main(argv) == 2, argv
        assert "usage: community-metrics" in capsys.readouterr().err


def test_config_errors_name_the_variable(env, monkeypatch, capsys):
    from community_metrics import config

    monkeypatch.setenv("CM_STORAGE_MODE", "enterprise")
    config.get_settings.cache_clear()
    assert main(["status"]) == 1
    assert "CM_LANCEDB_URI" in capsys.readouterr().err


def test_commands_run_through_the_instance_and_status_reports(env):
    seeded = run_cli(["seed"], env)
    assert seeded.returncode == 0, seeded.stderr
    assert "metric_catalog: 7 rows, 7 inserted, 0 updated" in seeded.stdout
    # our lines only: no Dagster banner, no Lance warning about datasets it creates
    lines = seeded.stdout.splitlines()
    assert lines[0] == "running seed_job" and re.fullmatch(r"run \S+ succeeded", lines[-1])
    assert all(re.fullmatch(r"  \w+: \d+ rows, \d+ inserted, .*", x) for x in lines[1:-1])
    assert seeded.stderr == ""
    backfill = run_cli(
        ["backfill", "--from", "2026-10-05", "--to", "2026-11-01", "--no-fetch"], env
    )
    assert backfill.returncode == 0, backfill.stderr
    assert "over 4 weeks" in backfill.stdout
    bad = run_cli(["backfill", "--from", "2026-11-01", "--to", "2026-10-05"], env)
    assert bad.returncode == 2
    assert "--from 2026-11-01 is after --to 2026-10-05" in bad.stderr

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = {r.dagster_run.job_name: r.dagster_run for r in instance.get_run_records()}
    assert set(runs) == {"seed_job", "weekly_metrics_job"}
    assert runs["weekly_metrics_job"].tags["dagster/asset_partition_range_start"] == "2026-10-05"
    assert runs["weekly_metrics_job"].tags["dagster/asset_partition_range_end"] == "2026-10-26"

    status = run_cli(["status", "--json"], env)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    metrics = {m["metric_id"]: m for m in report["metrics"]}
    assert len(metrics) == 7
    assert all(m["weekly_rows"] == 4 for m in metrics.values())
    assert metrics["downloads:lance:python"]["latest_period_end"] == "2026-11-01"
    assert [r["status"] for r in report["runs"]] == ["success", "success"]
    tables = {t["table"]: t["rows"] for t in report["tables"]}
    assert set(tables) == {
        "metrics",
        "observations",
        "stats",
        "history",
        "mentions",
        "mention_embeddings",
    }
    assert tables["mentions"] == tables["mention_embeddings"] == 32  # the example mentions

    found = run_cli(
        ["search", "moving off pinecone onto lancedb halved what we pay", "--json"], env
    )
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)[0]["key"] == "example|ex-001"
    text = run_cli(["search", "Electron", "--mode", "keyword", "--product", "lancedb"], env)
    assert text.returncode == 0 and "example-mentions/011" in text.stdout
    bad = run_cli(["search", "x", "--limit", "0"], env)
    assert bad.returncode == 2 and "limit 0 is out of range" in bad.stderr


def test_runbook_commands_through_the_console_script(env):
    script = Path(sys.executable).parent / "community-metrics"

    helped = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "backfill" in helped.stdout

    for args in (
        ["seed"],
        ["refresh", "--lookback-weeks", "1", "--no-fetch"],
        ["update-all", "--lookback-weeks", "0", "--no-fetch"],
    ):
        done = subprocess.run(
            [script, *args], env={**os.environ, **env}, capture_output=True, text=True
        )
        assert done.returncode == 0, (args, done.stderr)
        assert "succeeded" in done.stdout
    # update-all --lookback-weeks 0: seed, then the week that just closed
    assert "running seed_job" in done.stdout and "over 1 week," in done.stdout


def test_a_step_that_fails_before_recording_history_prints_its_own_error(env, capsys):
    import lancedb
    import pyarrow as pa

    lancedb.connect(env["CM_DB_PATH"]).create_table("stats", schema=pa.schema([("x", pa.int64())]))
    assert main(["seed"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors and all("table 'stats'" in line and "migrate it" in line for line in errors)
    assert not any("Dagster" in line or "dagster." in line for line in errors)
