from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


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
