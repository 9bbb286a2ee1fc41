"""Supervises the UI processes that `community-metrics up` starts (`dagster dev`: webserver,
daemon and code server), so that all of them stop with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from community_metrics.config import PROJECT_ROOT

SERVER_WAIT_SECONDS = 240
STOP_GRACE_SECONDS = 30
# `dagster dev` is superseded by `dg dev` (another package); the notice is noise for users.
SUPERSEDED_WARNING = "ignore:Function `dev_command` is superseded"


class ServerError(RuntimeError):
    """The UI did not come up; the message says what happened."""


class DagsterDev:
    """`dagster dev` in its own process group, started from DAGSTER_HOME."""

    def __init__(self, home: Path, host: str, port: int):
        self.url = f"http://{host}:{port}"
        self._args = [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(PROJECT_ROOT / "workspace.yaml"),
            "-h",
            host,
            "-p",
            str(port),
        ]
        self._home = home
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            self._args,
            # Run from DAGSTER_HOME: dagster dev warns about a dagster.yaml in its working folder.
            cwd=self._home,
            env={**os.environ, "PYTHONWARNINGS": SUPERSEDED_WARNING},
            start_new_session=True,
        )

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout: float = SERVER_WAIT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._process.poll() is not None:
                raise ServerError(f"the Dagster server exited with code {self._process.returncode}")
            if time.monotonic() > deadline:
                raise ServerError(f"the Dagster UI did not answer at {self.url} in time")
            time.sleep(1)

    def wait(self) -> None:
        self._process.wait()

    def stop(self) -> None:
        """SIGINT the whole process group (webserver, daemon, code servers), then SIGKILL
        whatever is left, so nothing outlives `up`."""
        server = self._process
        if server is None:
            return
        if server.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=STOP_GRACE_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
