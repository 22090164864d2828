"""The `sluice` command (main.py) and the sub-commands that join packages: prompts (the gate runs
eval suites), rag (ingestion with the local embedder), spend (keys, teams, reports)."""

from gateway.cli.root import main

__all__ = ["main"]
