"""Shared loaders for the deployment tests (all offline: no Docker engine, no cluster)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def render_with_kubectl(directory: Path) -> list[dict[str, Any]]:
    out = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def render_by_hand(directory: Path) -> list[dict[str, Any]]:
    """Without kubectl: resources file by file (directories recursively), generated ConfigMaps
    (unhashed names) and image pins; patches and namespaces are not applied."""
    docs, images = _collect(directory)
    for doc in docs:
        for c in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for img in images:  # in order: the base renames, an overlay re-tags the new name
                if c["image"].split(":")[0] == img["name"]:
                    c["image"] = f"{img.get('newName', img['name'])}:{img['newTag']}"
    return docs


def _collect(directory: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    kust = load_yaml(directory / "kustomization.yaml")
    docs: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    for name in kust.get("resources", []):
        path = (directory / name).resolve()
        if path.is_dir():
            sub_docs, sub_images = _collect(path)
            docs += sub_docs
            images += sub_images
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for gen in kust.get("configMapGenerator", []):
        data = {Path(f).name: (directory / f).read_text() for f in gen["files"]}
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data})
    return docs, images + list(kust.get("images", []))


def _kustomize_capable() -> bool:
    """kubectl with an embedded kustomize v4+ (Debian's kubernetes-client 1.20 bundles v2, which
    predates the `labels:` field these kustomizations use)."""
    if not shutil.which("kubectl"):
        return False
    try:
        out = subprocess.run(["kubectl", "version", "--client", "-o", "json"], check=False, capture_output=True,
                             text=True, timeout=30).stdout
        version = json.loads(out).get("kustomizeVersion", "v0")
    except (subprocess.SubprocessError, ValueError):
        return False
    major = re.match(r"v?(\d+)", version)
    return bool(major) and int(major.group(1)) >= 4


HAVE_KUBECTL = _kustomize_capable()


def render(directory: Path) -> list[dict[str, Any]]:
    return render_with_kubectl(directory) if HAVE_KUBECTL else render_by_hand(directory)


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="session", params=["base", "overlays/production"])
def rendered(request) -> tuple[str, list[dict[str, Any]]]:
    """(which, resources); kustomize-rendered when kubectl is installed, else file by file."""
    return request.param, render(K8S / request.param)

