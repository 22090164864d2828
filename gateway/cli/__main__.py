"""`python -m gateway.cli` is `sluice`."""

from gateway.cli.root import main

main()
