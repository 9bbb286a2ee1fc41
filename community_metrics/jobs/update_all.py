"""Runbook entry point, an alias of `community-metrics update-all`."""

import sys

from community_metrics.cli import main

if __name__ == "__main__":
    sys.exit(main(["update-all", *sys.argv[1:]]))
