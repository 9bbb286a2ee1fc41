"""SIGKILL a seeding run in the middle of its LanceDB write: the table must hold the before or
the after state, never a part, and the rerun must complete."""

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time

import dagster as dg

from community_metrics.config import PROJECT_ROOT
from community_metrics.store import HISTORY, OBSERVATIONS, StoreWriter

from .conftest import run_cli

METRICS = 60
DAYS = 1500


def write_big_seed(seed_dir):
    """A catalog of many download metrics and ~180k daily rows, so the write takes a while."""
    entries = []
    for i in range(METRICS):
        entries.append(
            f'[[metric]]\nmetric_id = "downloads:p{i}:python"\nfamily = "downloads"\n'
            f'product = "p{i}"\nsubject = "p{i}"\nsdk = "python"\nsource = "pypistats"\n'
            f'unit = "downloads"\ndisplay_name = "P{i}"\n'
        )
    (seed_dir / "catalog.toml").write_text("\n".join(entries))
    for name in (
        "download_stats.csv",
        "lance-star-history.csv",
        "lancedb-star-history.csv",
        "mentions.jsonl",
    ):
        (seed_dir / name).unlink()
    first = dt.date(2018, 1, 1)
    lines = ["date,metric_id,downloads"]
    for d in range(DAYS):
        day = (first + dt.timedelta(days=d)).isoformat()
        lines.extend(f"{day},downloads:p{i}:python,{1000 + i + d}" for i in range(METRICS))
    (seed_dir / "daily_downloads.csv").write_text("\n".join(lines) + "\n")


def data_files(db_path):
    folder = os.path.join(db_path, "observations.lance", "data")
    return set(os.listdir(folder)) if os.path.isdir(folder) else set()


def seed_process(env):
    return subprocess.Popen(
        [sys.executable, "-m", "community_metrics.cli", "seed"],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def check_consistent(store, allowed_counts):
    rows = store.read_all(OBSERVATIONS)
    keys = [r["key"] for r in rows]
    assert len(keys) == len(set(keys)), "duplicate keys after a crash"
    assert len(rows) in allowed_counts
    return len(rows)


def test_sigkill_mid_write_leaves_before_or_after_and_rerun_completes(env, seed_dir, settings):
    # The project's instance settings, pools included: a killed run must not block the rerun.
    shutil.copyfile(
        PROJECT_ROOT / "dagster.yaml", os.path.join(env["DAGSTER_HOME"], "dagster.yaml")
    )
    first = run_cli(["seed"], env)
    assert first.returncode == 0, first.stderr
    store = StoreWriter.connect(settings)
    before = store.count_rows(OBSERVATIONS)
    assert before > 0
    after = before + METRICS * DAYS

    write_big_seed(seed_dir)
    known = data_files(env["CM_DB_PATH"])
    proc = seed_process(env)
    deadline = time.monotonic() + 240
    killed_mid_write = False
    while proc.poll() is None and time.monotonic() < deadline:
        if data_files(env["CM_DB_PATH"]) - known:
            os.killpg(proc.pid, signal.SIGKILL)
            killed_mid_write = True
            break
        time.sleep(0.001)
    proc.wait(30)
    assert killed_mid_write, "the seeding run ended before its write could be interrupted"
    assert proc.returncode == -signal.SIGKILL

    check_consistent(StoreWriter.connect(settings), {before, after})

    rerun = run_cli(["seed"], env)
    assert rerun.returncode == 0, rerun.stderr
    assert check_consistent(StoreWriter.connect(settings), {after}) == after
    assert "marked failed" in rerun.stdout

    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        statuses = sorted(r.dagster_run.status.value for r in instance.get_run_records())
        pool = instance.event_log_storage.get_concurrency_info("lancedb_observations")
    assert statuses == ["FAILURE", "SUCCESS", "SUCCESS"]
    assert pool.claimed_slots == [] and pool.pending_steps == []
    history = {r["status"] for r in StoreWriter.connect(settings).read_all(HISTORY)}
    assert history == {"failed", "success"}
