from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# A valid suite file the test prompts name in `suite:`; the gate checks a run against it.
GUARD = {"name": "guard", "target": {"prompt": "x"}, "dataset": [{"id": "c1", "input": "q"}]}


def guard_suite(root: Path) -> str:
    """Write <root>/guard.yaml; returns the `suite:` value for a prompt at <root>/<name>/."""
    (root / "guard.yaml").write_text(yaml.safe_dump(GUARD))
    return "../guard.yaml"


def binding(reg: Any) -> dict[str, str]:
    """The suite fields of an attestation of a run of guard.yaml as it is now."""
    from evals.attest import suite_fingerprint

    suite_hash, data_hash = suite_fingerprint(reg.dir / "guard.yaml")
    return {"suite_path": "guard.yaml", "suite_file": "guard.yaml", "suite_hash": suite_hash, "dataset_hash": data_hash}


def write_prompt(root: Path, name: str, version: int, *, system: str = "You are helpful.",
                 user: str = "{{ question }}", model: str | None = "small", **extra: Any) -> Path:
    doc: dict[str, Any] = {
        "name": name, "version": version, "description": f"{name} v{version}", "model": model,
        "parameters": {"temperature": 0, "max_tokens": 64},
        "variables": {"type": "object", "required": ["question"], "properties": {"question": {"type": "string"}}},
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        **extra,
    }
    path = root / name / f"v{version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
