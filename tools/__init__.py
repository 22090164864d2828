"""Developer tools run from a repository checkout (`python -m tools.<name>`); not part of the wheel
(pyproject's packages.find lists only the runtime packages) and free to use the dev extra."""
