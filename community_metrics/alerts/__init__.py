"""Alerts: one payload (`Alert`), the notifiers that carry it, and the dispatcher that keeps
a notifier that is down from stopping the others. No Dagster: the sensors build the alerts."""

from community_metrics.alerts.notify import Dispatcher, Notifier, NotifierError, configured
from community_metrics.alerts.payload import (
    KINDS,
    Alert,
    rerun_command,
    week_list,
)

__all__ = [
    "KINDS",
    "Alert",
    "Dispatcher",
    "Notifier",
    "NotifierError",
    "configured",
    "rerun_command",
    "week_list",
]
