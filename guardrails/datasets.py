"""Where the public labelled datasets live: `$SLUICE_DATASETS`, else the repository's `datasets/`.

The repository carries its own copy (origin, licence and a sha256 per file in `datasets/README.md`),
so a fresh clone needs nothing beside it. An installed wheel has no `datasets/`: point
`SLUICE_DATASETS` (or a command's `--data-dir`) at a copy.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SLUICE_DATASETS"
_REPOSITORY_COPY = Path(__file__).resolve().parents[1] / "datasets"


def datasets_dir() -> Path:
    """The datasets folder; it may not exist (an installed wheel without `SLUICE_DATASETS`)."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else _REPOSITORY_COPY


def dataset_path(*parts: str) -> Path:
    """A file or folder inside the datasets folder, with an error that says how to point at one."""
    path = datasets_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"dataset {'/'.join(parts)!r} not found under {datasets_dir()}: set {ENV_VAR} to a folder "
            "laid out like the repository's datasets/ (or pass --data-dir)")
    return path
