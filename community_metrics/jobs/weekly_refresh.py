"""Runbook entry point, an alias of `community-metrics refresh`."""

import sys

from community_metrics.cli import main

if __name__ == "__main__":
    sys.exit(main(["refresh", *sys.argv[1:]]))
