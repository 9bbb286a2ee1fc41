"""Notifiers: the log always, any number of webhooks, Slack. Each is isolated: one that is
down is retried within a bound, logged, and never stops the others or fails a sensor tick.

Slack goes through slack_sdk's WebClient, the client dagster-slack's SlackResource returns,
built here with the API URL from settings (so a local fake of chat.postMessage can stand in).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from community_metrics.alerts.payload import Alert
from community_metrics.config import AlertSettings

LOG = logging.getLogger("community_metrics.alerts")
ATTEMPTS = 3
TIMEOUT_SECONDS = 5.0
BACKOFF_SECONDS = (0.5, 1.0)  # before the 2nd and 3rd attempt: at most ~17 s a notifier


class NotifierError(Exception):
    """A notifier could not deliver; the message never holds a token or a webhook's path."""


@dataclass
class Notifier:
    """One destination: `send` delivers an alert or raises NotifierError."""

    name: str
    send: Callable[[Alert], None]


def webhook(url: str, index: int) -> Notifier:
    """A POST of the JSON payload; any 2xx is delivered. Named by host only: a webhook's path
    is often its secret."""
    host = urlsplit(url).netloc

    def send(alert: Alert) -> None:
        try:
            response = httpx.post(url, json=alert.payload(), timeout=TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            raise NotifierError(f"{type(exc).__name__} calling {host}") from None
        if not 200 <= response.status_code < 300:
            raise NotifierError(f"{host} answered HTTP {response.status_code}")

    return Notifier(f"webhook {index} ({host})", send)


def slack(token: str, channel: str, api_url: str) -> Notifier:
    """chat.postMessage: the text, a link to the run and the re-run command."""
    client = WebClient(token=token, base_url=api_url.rstrip("/") + "/", timeout=TIMEOUT_SECONDS)

    def send(alert: Alert) -> None:
        lines = [alert.text]
        if alert.url:
            lines.append(f"<{alert.url}|Open in Dagster>")
        if alert.rerun:
            lines.append(f"Re-run: `{alert.rerun}`")
        try:
            client.chat_postMessage(channel=channel, text="\n".join(lines), unfurl_links=False)
        except SlackApiError as exc:
            raise NotifierError(f"Slack answered {exc.response.get('error', 'an error')}") from None
        except Exception as exc:  # connection errors of urllib, timeouts
            raise NotifierError(f"{type(exc).__name__} calling Slack") from None

    return Notifier(f"slack ({channel})", send)


def log_notifier(write: Callable[[str], None] = LOG.error) -> Notifier:
    """The log (a sensor's: shown on its tick in the UI): the kind, the line, the re-run."""

    def send(alert: Alert) -> None:
        rerun = f" Re-run: {alert.rerun}" if alert.rerun else ""
        write(f"[alert {alert.kind}] {alert.text}{rerun}")

    return Notifier("log", send)


def configured(settings: AlertSettings, write: Callable[[str], None] = LOG.error) -> list[Notifier]:
    """The log, then every webhook, then Slack when its token and channel are set."""
    notifiers = [log_notifier(write)]
    notifiers += [webhook(url, i) for i, url in enumerate(settings.webhook_urls, start=1)]
    if settings.slack_bot_token and settings.slack_channel:
        notifiers.append(
            slack(settings.slack_bot_token, settings.slack_channel, settings.slack_api_url)
        )
    return notifiers


def _attempt(notifier: Notifier, alert: Alert, attempts: int) -> str | None:
    """None when delivered, else the last error; retried `attempts` times with backoff."""
    error = "not attempted"
    for attempt in range(attempts):
        if attempt:
            time.sleep(BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)])
        try:
            notifier.send(alert)
            return None
        except NotifierError as exc:
            error = str(exc)
        except Exception as exc:  # a notifier bug must not stop the others either
            error = f"{type(exc).__name__}: {exc}"
    return error


class Dispatcher:
    """Sends alerts through every notifier, side by side. A notifier that failed once in this
    dispatcher's life (one sensor tick) gets a single attempt for later alerts, so a dead
    destination costs one retry budget per tick, not one per alert."""

    def __init__(self, notifiers: Sequence[Notifier], log: Callable[[str], None] | None = None):
        self.notifiers = list(notifiers)
        self.down: set[str] = set()
        self.log = log or LOG.warning
        self.sent: list[Alert] = []

    def send(self, alert: Alert) -> dict[str, str | None]:
        """Per notifier name: None when delivered, else the error (also logged)."""
        with ThreadPoolExecutor(max_workers=max(1, len(self.notifiers))) as pool:
            results = dict(
                zip(
                    (n.name for n in self.notifiers),
                    pool.map(
                        lambda n: _attempt(n, alert, 1 if n.name in self.down else ATTEMPTS),
                        self.notifiers,
                    ),
                    strict=True,
                )
            )
        for name, error in results.items():
            if error is not None:
                self.down.add(name)
                self.log(f"alert {alert.key} not delivered by {name}: {error}")
        self.sent.append(alert)
        return results
