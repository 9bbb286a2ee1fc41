"""`community-metrics`: run the pipeline and inspect the store from a terminal.

Every run goes through the Dagster instance in DAGSTER_HOME (the same one the UI reads), so CLI
runs appear in the UI's run history next to scheduled and UI-launched ones.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from community_metrics.catalog import CatalogError
from community_metrics.config import DEFAULT_DAGSTER_HOME, PROJECT_ROOT, ConfigError, Settings
from community_metrics.partitions import WEEKLY, monday_of, week_keys

SERVER_WAIT_SECONDS = 240
STOP_GRACE_SECONDS = 30
# `dagster dev` is superseded by `dg dev` (another package); the notice is noise for users.
SUPERSEDED_WARNING = "ignore:Function `dev_command` is superseded"
# Events still reach the instance (and the UI); the terminal shows the summary lines only.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class UsageError(Exception):
    """Bad command-line arguments: exit code 2."""


def _settings() -> Settings:
    from community_metrics.config import get_settings

    return get_settings()


def prepare_dagster_home(settings: Settings) -> Path:
    """Point DAGSTER_HOME at the instance folder; the default folder gets our dagster.yaml."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    if home == PROJECT_ROOT / DEFAULT_DAGSTER_HOME:
        source = PROJECT_ROOT / "dagster.yaml"
        target = home / "dagster.yaml"
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
    return home


def _instance(settings: Settings):
    import dagster as dg

    prepare_dagster_home(settings)
    return dg.DagsterInstance.get()


def _defs(settings: Settings):
    from community_metrics.definitions import build_definitions

    return build_definitions(settings)


def run_job(settings: Settings, job_name: str, partition_keys: list[str] | None = None) -> bool:
    """Execute a job through the instance; print what each asset wrote. True on success."""
    import dagster as dg

    from community_metrics.jobs import execute, reap_dead_runs
    from community_metrics.runs import mark_dead_run
    from community_metrics.store import Store

    defs = _defs(settings)
    label = f" for weeks {partition_keys[0]}..{partition_keys[-1]}" if partition_keys else ""
    print(f"running {job_name}{label}", flush=True)
    with _instance(settings) as instance:
        for dead in reap_dead_runs(instance):
            message = "its process died (killed?) before the run finished"
            mark_dead_run(Store.connect(settings), dead.run_id, dead.job_name, message)
            print(f"run {dead.run_id} ({dead.job_name}): {message}; marked failed", flush=True)
        result = execute(defs, job_name, instance, partition_keys, run_config=QUIET_CONSOLE)
    # A range run records one materialization per partition, all with the run's metadata.
    partitions: Counter[str] = Counter()
    summaries: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        name = materialization.asset_key.to_user_string()
        partitions[name] += 1
        summaries[name] = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    for name, meta in summaries.items():
        count = partitions[name]
        weeks = f" over {count} week{'s' if count != 1 else ''}" if partition_keys else ""
        print(
            f"  {name}: {meta.get('dagster/row_count')} rows{weeks}, "
            f"{meta.get('rows_inserted')} inserted, {meta.get('rows_updated')} updated "
            f"(table {meta.get('table')} v{meta.get('table_version')})"
        )
    if not result.success:
        for event in result.all_events:
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                error = event.step_failure_data.error
                message = error.message.strip() if error else "unknown error"
                print(f"error in {event.step_key}: {message}", file=sys.stderr)
        print(f"run {result.run_id} failed", file=sys.stderr)
        return False
    print(f"run {result.run_id} succeeded")
    return True


def _parse_day(value: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{flag} {value!r} is not a date: use YYYY-MM-DD") from None


def lookback_keys(lookback_weeks: int) -> list[str]:
    """The week that just closed and the `lookback_weeks` weeks before it."""
    if lookback_weeks < 0:
        raise UsageError("--lookback-weeks must be 0 or more")
    from community_metrics.schedules import refresh_keys

    return refresh_keys(dt.datetime.now(dt.UTC), lookback_weeks)


def backfill_keys(start: dt.date, end: dt.date) -> list[str]:
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    keys = week_keys(start, end)
    if not keys:
        raise UsageError(
            f"no completed week between {start} and {end}: weeks run Monday to Sunday (UTC) "
            f"from {WEEKLY.get_first_partition_key()} to {WEEKLY.get_last_partition_key()}"
        )
    if monday_of(end).isoformat() > keys[-1]:
        raise UsageError(
            f"--to {end} is in a week that has not finished; the last completed week starts "
            f"{keys[-1]}"
        )
    return keys


def cmd_seed(settings: Settings, _args) -> int:
    from community_metrics.jobs import SEED_JOB

    return 0 if run_job(settings, SEED_JOB) else 1


def _weeks_job(args) -> str:
    from community_metrics.jobs import REFRESH_JOB, WEEKLY_JOB

    return WEEKLY_JOB if args.no_fetch else REFRESH_JOB


def _lookback(settings: Settings, args) -> list[str]:
    weeks = args.lookback_weeks
    return lookback_keys(settings.sources.refresh_lookback_weeks if weeks is None else weeks)


def cmd_refresh(settings: Settings, args) -> int:
    keys = _lookback(settings, args)
    return 0 if run_job(settings, _weeks_job(args), keys) else 1


def cmd_update_all(settings: Settings, args) -> int:
    keys = _lookback(settings, args)
    if cmd_seed(settings, args):
        return 1
    return 0 if run_job(settings, _weeks_job(args), keys) else 1


def cmd_backfill(settings: Settings, args) -> int:
    keys = backfill_keys(_parse_day(args.start, "--from"), _parse_day(args.end, "--to"))
    return 0 if run_job(settings, _weeks_job(args), keys) else 1


def collect_status(settings: Settings, runs: int = 10) -> dict:
    from community_metrics.catalog import load_catalog
    from community_metrics.store import OBSERVATIONS, Store

    store = Store.connect(settings)
    catalog = load_catalog(settings.seed_dir)
    stats = store.stats()
    observed = Counter(r["metric_id"] for r in store.read_all(OBSERVATIONS))
    metrics = []
    for metric in catalog:
        weekly = [
            r for r in stats if r["metric_id"] == metric.metric_id and r["source_window"] == "week"
        ]
        snaps = [
            r for r in stats if r["metric_id"] == metric.metric_id and r["source_window"] != "week"
        ]
        latest = max(weekly, key=lambda r: r["period_end"], default=None)
        metrics.append(
            {
                "metric_id": metric.metric_id,
                "display_name": metric.display_name,
                "active": metric.active,
                "rows": len(weekly) + len(snaps),
                "weekly_rows": len(weekly),
                "snapshot_rows": len(snaps),
                "observations": observed.get(metric.metric_id, 0),
                "latest_period_end": latest["period_end"].isoformat() if latest else None,
                "latest_value": latest["value"] if latest else None,
                "latest_snapshot": max((r["period_end"] for r in snaps), default=None),
            }
        )
    for entry in metrics:
        if entry["latest_snapshot"] is not None:
            entry["latest_snapshot"] = entry["latest_snapshot"].isoformat()
    history = []
    for row in store.history(limit=runs):
        history.append(
            {
                "run_id": row["run_id"],
                "job_name": row["job_name"],
                "assets": list(row["assets"]),
                "partitions": f"{row['partition_start']}..{row['partition_end']}"
                if row["partition_start"]
                else None,
                "started_at": row["started_at"].isoformat(),
                "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
                "status": row["status"],
                "rows_inserted": row["rows_inserted"],
                "rows_updated": row["rows_updated"],
                "errors": json.loads(row["error_summary"]) if row["error_summary"] else {},
            }
        )
    return {
        "storage": settings.describe(),
        "tables": store.table_info(),
        "metrics": metrics,
        "runs": history,
    }


def cmd_status(settings: Settings, args) -> int:
    status = collect_status(settings)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(status["storage"])
    print("\ntables:")
    for t in status["tables"]:
        print(f"  {t['table']:<19} {t['rows']:>7} rows  version {t['version']}")
    print("\nmetrics:")
    for m in status["metrics"]:
        state = "" if m["active"] else " (inactive)"
        print(
            f"  {m['metric_id']:<26} weekly {m['weekly_rows']:>4}"
            f"  snapshots {m['snapshot_rows']:>3}"
            f"  observations {m['observations']:>5}  latest week ends {m['latest_period_end']}"
            f"{state}"
        )
    print("\nlast runs:")
    for r in status["runs"]:
        extra = f"  errors: {r['errors']}" if r["errors"] else ""
        print(
            f"  {r['started_at'][:19]}  {r['status']:<8} {r['job_name']:<20} "
            f"{r['partitions'] or '-':<24} +{r['rows_inserted']} ~{r['rows_updated']}{extra}"
        )
    return 0


def cmd_search(settings: Settings, args) -> int:
    from community_metrics.search.core import MentionSearch, SearchError
    from community_metrics.store import Store

    try:
        hits = MentionSearch(Store.connect(settings), settings.embedder).search(
            args.query,
            args.mode,
            products=args.product or (),
            sources=args.source or (),
            start=_parse_day(args.start, "--from") if args.start else None,
            end=_parse_day(args.end, "--to") if args.end else None,
            limit=args.limit,
        )
    except SearchError as exc:
        raise UsageError(str(exc)) from exc
    if args.json:
        print(json.dumps([{**vars(h), "occurred_at": h.occurred_at.isoformat()} for h in hits]))
        return 0
    if not hits:
        print("no mentions match")
    for rank, hit in enumerate(hits, start=1):
        print(
            f"{rank:>2}. [{hit.score:.4f}] {hit.occurred_at:%Y-%m-%d} {hit.source}/{hit.kind} "
            f"{','.join(hit.products)}  {hit.url or ''}"
        )
        if hit.title:
            print(f"    {hit.title}")
        print(f"    {hit.snippet}")
    return 0


# -- up ---------------------------------------------------------------------------------------


def missing_work(settings: Settings) -> tuple[bool, list[str]]:
    """Whether the seed must run, and the weekly partitions the stored observations support
    that are not materialized yet."""
    import dagster as dg

    from community_metrics.jobs import SEED_JOB
    from community_metrics.store import METRICS, OBSERVATIONS, Store

    store = Store.connect(settings)
    with _instance(settings) as instance:
        seed_assets = _defs(settings).resolve_job_def(SEED_JOB).asset_layer.selected_asset_keys
        seed_needed = store.count_rows(METRICS) == 0 or any(
            instance.get_latest_materialization_event(key) is None for key in seed_assets
        )
        done = instance.get_materialized_partitions(dg.AssetKey("weekly_metrics"))
    if seed_needed:
        return True, []
    days = [r["day"] for r in store.read_all(OBSERVATIONS)]
    if not days:
        return False, []
    supported = week_keys(min(days), dt.datetime.now(dt.UTC).date())
    return False, [k for k in supported if k not in done]


def _server_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop_server(server: subprocess.Popen) -> None:
    """SIGINT the server's whole process group (webserver, daemon, code servers), then SIGKILL
    whatever is left, so nothing outlives `up`."""
    if server.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=STOP_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def _create_instance_storage(settings: Settings) -> None:
    """Create the instance's run, event and schedule storage before `dagster dev` starts.

    On a new DAGSTER_HOME both processes would otherwise create the SQLite schema at once, and
    one fails with "table runs already exists".
    """
    import dagster as dg

    with _instance(settings) as instance:
        instance.get_run_records(limit=1)
        instance.get_latest_materialization_event(dg.AssetKey("metric_catalog"))
        instance.all_instigator_state()


def _terminate(*_):
    raise SystemExit(0)


def cmd_up(settings: Settings, args) -> int:
    from community_metrics.jobs import SEED_JOB, WEEKLY_JOB

    home = prepare_dagster_home(settings)
    url = f"http://{args.host}:{args.port}"
    print(f"storage: {settings.describe()}\nDagster home: {home}", flush=True)
    # A process started in the background may inherit SIGINT as ignored; the server must not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    _create_instance_storage(settings)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(PROJECT_ROOT / "workspace.yaml"),
            "-h",
            args.host,
            "-p",
            str(args.port),
        ],
        # Run from DAGSTER_HOME: dagster dev warns about a dagster.yaml in its working folder.
        cwd=home,
        env={**os.environ, "PYTHONWARNINGS": SUPERSEDED_WARNING},
        start_new_session=True,
    )
    try:
        ok = True
        seed_needed, _ = missing_work(settings)
        if seed_needed:
            ok = run_job(settings, SEED_JOB)
        if ok:
            _, weeks = missing_work(settings)
            if weeks:
                ok = run_job(settings, WEEKLY_JOB, [weeks[0], weeks[-1]])
            else:
                print("weekly metrics: nothing missing", flush=True)
        deadline = time.monotonic() + SERVER_WAIT_SECONDS
        while not _server_ready(url):
            if server.poll() is not None:
                print(f"the Dagster server exited with code {server.returncode}", file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(f"the Dagster UI did not answer at {url} in time", file=sys.stderr)
                return 1
            time.sleep(1)
        print(f"Dagster UI ready: {url}  (Ctrl-C to stop)", flush=True)
        if not ok:
            print("a run failed: see the run in the UI, or above", file=sys.stderr)
        server.wait()
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 0
    finally:
        _stop_server(server)


# -- entry point ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="community-metrics", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    up = sub.add_parser("up", help="start the Dagster UI and daemon; materialize what is missing")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=3000)
    up.set_defaults(func=cmd_up)
    sub.add_parser("seed", help="load the catalog and seed files").set_defaults(func=cmd_seed)
    no_fetch = "recompute from stored observations only, without calling the sources"
    for name, func, text in (
        ("refresh", cmd_refresh, "fetch and compute the week that just closed and N before it"),
        ("update-all", cmd_update_all, "seed, then refresh"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument(
            "--lookback-weeks", type=int, metavar="N", help="default: CM_REFRESH_LOOKBACK_WEEKS (2)"
        )
        p.add_argument("--no-fetch", action="store_true", help=no_fetch)
        p.set_defaults(func=func)
    backfill = sub.add_parser("backfill", help="fetch and compute a range of weeks in one run")
    backfill.add_argument("--from", dest="start", required=True, metavar="DATE")
    backfill.add_argument("--to", dest="end", required=True, metavar="DATE")
    backfill.add_argument("--no-fetch", action="store_true", help=no_fetch)
    backfill.set_defaults(func=cmd_backfill)
    status = sub.add_parser("status", help="tables, metrics and recent runs")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    search = sub.add_parser("search", help="search community mentions (offline by default)")
    search.add_argument("query")
    search.add_argument("--mode", choices=["hybrid", "semantic", "keyword"], default="hybrid")
    search.add_argument("--product", action="append", help="repeatable: any of these products")
    search.add_argument("--source", action="append", help="hackernews, github or example")
    search.add_argument("--from", dest="start", metavar="DATE")
    search.add_argument("--to", dest="end", metavar="DATE")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_search)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        settings = _settings()
        code = args.func(settings, args)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        parser.print_usage(sys.stderr)
        return 2
    except (ConfigError, CatalogError) as exc:
        print(f"{parser.prog}: configuration error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (`status | head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
