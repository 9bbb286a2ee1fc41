"""The README's main command on a fresh folder: UI up, whole asset graph, seed and weeks stored."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from community_metrics.config import PROJECT_ROOT

from .conftest import run_cli, run_module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def test_up_serves_the_ui_and_materializes_seed_and_weekly_metrics(env, tmp_path):
    port, api_port = free_port(), free_port()
    url, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{api_port}"
    log = (tmp_path / "up.log").open("w+")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "community_metrics.cli",
            "up",
            "--port",
            str(port),
            "--api-port",
            str(api_port),
        ],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 400
        while "Dagster UI ready" not in (tmp_path / "up.log").read_text():
            assert proc.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(1)
        output = (tmp_path / "up.log").read_text()
        assert f"Dagster UI ready: {url}" in output
        assert f"API and dashboard ready: {api}/" in output
        with urllib.request.urlopen(f"{api}/api/v1/dashboard/weekly", timeout=30) as answer:
            cards = json.loads(answer.read())["metrics"]
        assert len(cards) == 7 and all(c["sparkline"] for c in cards)
        assert re.search(r"^run \S+ succeeded$", output, re.M)
        assert not re.search(r"^run \S+ failed$", output, re.M)

        data = graphql(
            url,
            "{ workspaceOrError { ... on Workspace { locationEntries { name } } } "
            "assetNodes { assetKey { path } } }",
        )
        locations = [e["name"] for e in data["workspaceOrError"]["locationEntries"]]
        assert locations == ["community_metrics"]
        assets = {"/".join(n["assetKey"]["path"]) for n in data["assetNodes"]}
        assert assets == {
            "metric_catalog",
            "download_snapshots",
            "star_history",
            "daily_downloads",
            "pypi_downloads",
            "npm_downloads",
            "crates_downloads",
            "github_stars",
            "weekly_metrics",
            "example_mentions",
            "mentions",
            "mention_embeddings",
        }
        runs = graphql(url, "{ runsOrError { ... on Runs { results { jobName status } } } }")
        statuses = {(r["jobName"], r["status"]) for r in runs["runsOrError"]["results"]}
        assert statuses == {("seed_job", "SUCCESS"), ("weekly_metrics_job", "SUCCESS")}

        status = run_cli(["status", "--json"], env)
        assert status.returncode == 0, status.stderr
        metrics = json.loads(status.stdout)["metrics"]
        assert len(metrics) == 7
        assert all(m["weekly_rows"] > 0 for m in metrics), metrics
        assert all(m["latest_period_end"] for m in metrics)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert proc.returncode == 0
    # the webserver, daemon, code server and API went down with it: nothing listens any more
    for closed in (port, api_port):
        with socket.socket() as s, pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", closed))


def test_definitions_validate_with_the_pinned_location_name(env):
    done = run_module("dagster", ["definitions", "validate", "-w", "workspace.yaml"], env)
    assert done.returncode == 0, done.stderr
    assert "Validation successful for code location community_metrics" in done.stderr + done.stdout
