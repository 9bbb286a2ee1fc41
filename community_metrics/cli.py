"""`community-metrics`: run the pipeline and inspect the store from a terminal.

Parsing and printing only: jobs run through `runner` (the Dagster instance in DAGSTER_HOME, the
same one the UI reads), `status` and `search` read through the store's reader, and `up`
supervises the UI processes through `supervisor`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
from pathlib import Path

from community_metrics import weeks
from community_metrics.catalog import CatalogError
from community_metrics.config import ConfigError, Settings, get_settings
from community_metrics.store import StoreError


class UsageError(Exception):
    """Bad command-line arguments: exit code 2."""


def _print_report(report) -> None:
    for asset in report.assets:
        span = f" over {asset.weeks} week{'s' if asset.weeks != 1 else ''}"
        print(
            f"  {asset.name}: {asset.rows} rows{span if report.partition_keys else ''}, "
            f"{asset.inserted} inserted, {asset.updated} updated "
            f"(table {asset.table} v{asset.version})"
        )
    if report.success:
        print(f"run {report.run_id} succeeded", flush=True)
        return
    for name, error in sorted(report.errors.items()):
        print(f"error: {name}: {error}", file=sys.stderr)
    print(f"run {report.run_id} failed (details in the run's log in the UI)", file=sys.stderr)


def run_job(
    settings: Settings,
    job_name: str,
    partition_keys: list[str] | None = None,
    metrics: list[str] | None = None,
) -> bool:
    """Run a job, print what each asset wrote and one line per error. True on success."""
    from community_metrics import runner

    label = f" for weeks {partition_keys[0]}..{partition_keys[-1]}" if partition_keys else ""
    label += f" (fetching only {', '.join(metrics)})" if metrics else ""
    print(f"running {job_name}{label}", flush=True)
    report = runner.run_job(
        settings,
        job_name,
        partition_keys,
        metrics=metrics,
        on_reaped=lambda run: print(
            f"run {run.run_id} ({run.job_name}): {runner.DEAD_RUN}; marked failed", flush=True
        ),
    )
    _print_report(report)
    return report.success


def _parse_day(value: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{flag} {value!r} is not a date: use YYYY-MM-DD") from None


def lookback_keys(lookback_weeks: int) -> list[str]:
    """The week that just closed and the `lookback_weeks` weeks before it."""
    if lookback_weeks < 0:
        raise UsageError("--lookback-weeks must be 0 or more")
    return weeks.closed_weeks(lookback_weeks + 1)


def backfill_keys(start: dt.date, end: dt.date) -> list[str]:
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    keys = weeks.week_keys(start, end)
    if not keys:
        raise UsageError(
            f"no completed week between {start} and {end}: weeks run Monday to Sunday (UTC) "
            f"from {weeks.FIRST_WEEK} to {weeks.latest_closed_week()}"
        )
    if weeks.week_key(end) > keys[-1]:
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
    n = args.lookback_weeks
    return lookback_keys(settings.sources.refresh_lookback_weeks if n is None else n)


def _metrics(settings: Settings, args) -> list[str] | None:
    """--metrics a,b: only these (active, known) metrics are fetched."""
    if not getattr(args, "metrics", None):
        return None
    from community_metrics.catalog import load_catalog

    wanted = [m.strip() for m in args.metrics.split(",") if m.strip()]
    known = {m.metric_id for m in load_catalog(settings.seed_dir).active}
    unknown = [m for m in wanted if m not in known]
    if unknown or not wanted:
        raise UsageError(
            f"--metrics: {', '.join(unknown) or 'no metric given'} is not an active metric of "
            "the catalog (`community-metrics status` lists them)"
        )
    return wanted


def cmd_refresh(settings: Settings, args) -> int:
    keys = _lookback(settings, args)
    metrics = _metrics(settings, args)
    return 0 if run_job(settings, _weeks_job(args), keys, metrics=metrics) else 1


def cmd_update_all(settings: Settings, args) -> int:
    keys = _lookback(settings, args)
    if cmd_seed(settings, args):
        return 1
    return 0 if run_job(settings, _weeks_job(args), keys) else 1


def cmd_backfill(settings: Settings, args) -> int:
    keys = backfill_keys(_parse_day(args.start, "--from"), _parse_day(args.end, "--to"))
    metrics = _metrics(settings, args)
    return 0 if run_job(settings, _weeks_job(args), keys, metrics=metrics) else 1


def cmd_alerts_test(settings: Settings, _args) -> int:
    """A `test` alert through each notifier: per notifier, delivered or its error."""
    from community_metrics.alerts import Alert, Dispatcher, configured

    alert = Alert(
        kind="test",
        key=f"test-{dt.datetime.now(dt.UTC).isoformat()}",
        text="community-metrics: test alert (`community-metrics alerts test`)",
        url=settings.alerts.dagster_ui_url,
    )
    notifiers = configured(settings.alerts, write=lambda line: print(line, flush=True))
    results = Dispatcher(notifiers, log=lambda line: None).send(alert)
    for name, error in results.items():
        print(f"{name}: {'delivered' if error is None else 'FAILED: ' + error}")
    if len(notifiers) == 1:
        print(
            "only the log is configured: set CM_ALERT_WEBHOOK_URL or CM_SLACK_BOT_TOKEN and "
            "CM_SLACK_CHANNEL to alert elsewhere"
        )
    return 0 if all(error is None for error in results.values()) else 1


def cmd_secrets_env_file(_settings: Settings, args) -> int:
    """The env file of a single host from one Secrets Manager secret; names, never values."""
    from community_metrics.secrets_env import write_env_file

    out = Path(args.out)
    names = write_env_file(args.secret_id, out)
    print(f"wrote {len(names)} variables to {out} (mode 0600): {', '.join(names)}")
    return 0


def cmd_status(settings: Settings, args) -> int:
    from community_metrics.status import collect_status
    from community_metrics.store import StoreReader

    status = collect_status(StoreReader.connect(settings))
    if args.json:
        print(json.dumps(status.as_dict(), indent=2))
        return 0
    print(status.storage)
    print("\ntables:")
    for t in status.tables:
        print(f"  {t.table:<19} {t.rows:>7} rows  version {t.version}")
    print("\nmetrics:")
    if not status.metrics:
        print("  none stored yet: run `community-metrics seed`")
    for m in status.metrics:
        state = "" if m.active else " (inactive)"
        print(
            f"  {m.metric_id:<26} weekly {m.weekly_rows:>4}  snapshots {m.snapshot_rows:>3}"
            f"  observations {m.observations:>5}  latest week ends {m.latest_period_end}{state}"
        )
    print("\nlast runs:")
    for r in status.runs:
        extra = f"  errors: {r.errors}" if r.errors else ""
        print(
            f"  {r.started_at:%Y-%m-%dT%H:%M:%S}  {r.status:<8} {r.job_name:<20} "
            f"{r.partitions or '-':<24} +{r.rows_inserted} ~{r.rows_updated}{extra}"
        )
    return 0


def cmd_search(settings: Settings, args) -> int:
    from community_metrics.search.core import MentionSearch, SearchError
    from community_metrics.store import StoreReader

    try:
        hits = MentionSearch(StoreReader.connect(settings), settings.embedder).search(
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


def _terminate(*_):
    raise SystemExit(0)


def cmd_up(settings: Settings, args) -> int:
    from community_metrics import runner
    from community_metrics.jobs import SEED_JOB, WEEKLY_JOB
    from community_metrics.supervisor import (
        ServerError,
        api_server,
        dagster_dev,
        run_until_one_exits,
        wait_all,
    )

    home = runner.prepare_dagster_home(settings)
    print(f"storage: {settings.describe()}\nDagster home: {home}", flush=True)
    # A process started in the background may inherit SIGINT as ignored; the servers must not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)
    runner.create_instance_storage(settings)
    ui = dagster_dev(home, args.host, args.port)
    api = api_server(args.host, args.api_port)
    servers = [ui, api]
    try:
        for server in servers:
            server.start()
        ok = True
        seed_needed, _ = runner.missing_work(settings)
        if seed_needed:
            ok = run_job(settings, SEED_JOB)
        if ok:
            _, missing = runner.missing_work(settings)
            if missing:
                ok = run_job(settings, WEEKLY_JOB, [missing[0], missing[-1]])
            else:
                print("weekly metrics: nothing missing", flush=True)
        try:
            wait_all(servers)
        except ServerError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(f"API and dashboard ready: {api.url}/", flush=True)
        print(f"Dagster UI ready: {ui.url}  (Ctrl-C to stop)", flush=True)
        if not ok:
            print("a run failed: see the run in the UI, or above", file=sys.stderr)
        run_until_one_exits(servers)
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 0
    finally:
        for server in servers:
            server.stop()


def cmd_serve(settings: Settings, args) -> int:
    import uvicorn

    from community_metrics.api import create_app

    app = create_app(settings)
    print(f"API and dashboard: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


# -- entry point ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="community-metrics", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    up = sub.add_parser("up", help="start the Dagster UI and daemon; materialize what is missing")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=3000, help="the Dagster UI's port")
    up.add_argument("--api-port", type=int, default=8000, help="the API and dashboard's port")
    up.set_defaults(func=cmd_up)
    serve = sub.add_parser("serve", help="the read-only API and dashboard")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)
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
    only = "comma-separated metric ids: fetch only these (a re-run of what failed)"
    sub.choices["refresh"].add_argument("--metrics", metavar="IDS", help=only)
    backfill = sub.add_parser("backfill", help="fetch and compute a range of weeks in one run")
    backfill.add_argument("--from", dest="start", required=True, metavar="DATE")
    backfill.add_argument("--to", dest="end", required=True, metavar="DATE")
    backfill.add_argument("--no-fetch", action="store_true", help=no_fetch)
    backfill.add_argument("--metrics", metavar="IDS", help=only)
    backfill.set_defaults(func=cmd_backfill)
    alerts = sub.add_parser("alerts", help="alert notifiers")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    alerts_sub.add_parser(
        "test", help="send a test alert through every configured notifier"
    ).set_defaults(func=cmd_alerts_test)
    secrets = sub.add_parser("secrets", help="secrets for a single host")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True)
    env_file = secrets_sub.add_parser(
        "env-file", help="write an env file (mode 0600) from an AWS Secrets Manager secret"
    )
    env_file.add_argument("secret_id", help="the secret's name or ARN (a JSON key/value secret)")
    env_file.add_argument("--out", required=True, help="e.g. /etc/community-metrics/env")
    env_file.set_defaults(func=cmd_secrets_env_file)
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
        settings = get_settings()
        code = args.func(settings, args)
    except UsageError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        parser.print_usage(sys.stderr)
        return 2
    except (ConfigError, CatalogError) as exc:
        print(f"{parser.prog}: configuration error: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # the reader went away (`status | head`): not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
