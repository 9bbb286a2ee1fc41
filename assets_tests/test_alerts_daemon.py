"""The alert path as an operator runs it: `dagster-daemon run` on the workspace, and a CLI
refresh (in-process, no code-location origin) that fails for one metric."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from dagster._core.definitions.run_request import InstigatorType

from community_metrics.config import PROJECT_ROOT

from .alert_receiver import AlertReceiver
from .conftest import point_at, run_cli

INTERVAL = 2


def sensor_ticks(instance: dg.DagsterInstance, name: str) -> list:
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == name:
            return list(instance.get_ticks(state.instigator_origin_id, state.selector_id))
    return []


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_the_daemon_alerts_once_on_a_failed_cli_refresh(env, fake, monkeypatch, tmp_path):
    receiver = AlertReceiver()
    point_at(
        fake,
        env,
        monkeypatch,
        **receiver.env("hook"),
        CM_ALERT_INTERVAL_SECONDS=str(INTERVAL),
    )
    home = Path(env["DAGSTER_HOME"])
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    fake.always("/api/v1/crates/lancedb/", ("status", 500))
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            wait(lambda: sensor_ticks(instance, "failed_run_alert"), 180, "the sensor's 1st tick")
            refresh = run_cli(["refresh", "--lookback-weeks", "0"], env)
            assert refresh.returncode == 1, refresh.stdout + refresh.stderr
            ticks_before = len(sensor_ticks(instance, "failed_run_alert"))
            (alert,) = wait(lambda: receiver.alerts("hook", "run_failure"), 120, "the alert")
            ticks_to_alert = len(sensor_ticks(instance, "failed_run_alert")) - ticks_before
            assert ticks_to_alert <= 2, f"the alert took {ticks_to_alert} ticks"
            assert list(alert["metrics"]) == ["downloads:lancedb:rust"]
            (run,) = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
            assert alert["run_id"] == run.run_id and run.remote_job_origin is None
            assert len(alert["partitions"]) == 1 and alert["rerun"].startswith(
                "community-metrics backfill --from "
            )
            # three more ticks: still exactly one alert for that run
            target = len(sensor_ticks(instance, "failed_run_alert")) + 3
            wait(lambda: len(sensor_ticks(instance, "failed_run_alert")) >= target, 60, "ticks")
            assert len(receiver.alerts("hook", "run_failure")) == 1
            assert len(receiver.slack) >= 1
    finally:
        os.killpg(daemon.pid, signal.SIGINT)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()
        receiver.close()
    assert "Traceback" not in (tmp_path / "daemon.log").read_text().split("KeyboardInterrupt")[0]
