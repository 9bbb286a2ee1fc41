"""Runbook entry point, an alias of `community-metrics seed`."""

import sys

from community_metrics.cli import main

if __name__ == "__main__":
    sys.exit(main(["seed", *sys.argv[1:]]))
