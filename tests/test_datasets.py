"""The repository carries its own datasets (no folder beside the clone is needed), unchanged from
their recorded checksums, and nothing in the tree names a path of a particular machine."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

from guardrails.datasets import dataset_path, datasets_dir

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / "datasets"


def test_the_default_is_the_repositorys_copy(monkeypatch) -> None:
    monkeypatch.delenv("SLUICE_DATASETS", raising=False)
    assert datasets_dir() == DATASETS
    monkeypatch.setenv("SLUICE_DATASETS", "/elsewhere")
    assert datasets_dir() == Path("/elsewhere")


def test_every_file_matches_its_recorded_sha256() -> None:
    listed = {}
    for line in (DATASETS / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.removeprefix("./")] = digest
    present = {str(p.relative_to(DATASETS)) for p in DATASETS.rglob("*")
               if p.is_file() and p.name not in ("SHA256SUMS", "README.md")}
    assert present == set(listed), "a dataset file was added or removed without updating SHA256SUMS"
    for name, digest in listed.items():
        assert hashlib.sha256((DATASETS / name).read_bytes()).hexdigest() == digest, name


def test_a_missing_dataset_says_how_to_point_at_one(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SLUICE_DATASETS", str(tmp_path))
    try:
        dataset_path("injection", "jackhhao_test.csv")
    except FileNotFoundError as e:
        assert "SLUICE_DATASETS" in str(e)
    else:
        raise AssertionError("no error for a missing dataset")


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / f for f in out.splitlines() if not f.endswith(".lock") and not f.startswith("datasets/")]


def test_no_tracked_file_names_a_machine_path_or_the_shared_folder() -> None:
    machine = "/" + "work" + "/"  # the path these sessions' machines check out under
    shared = "shared" + "/datasets"
    offenders = []
    for path in _tracked():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        if machine in text or shared in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


def test_install_files_name_no_package_index() -> None:
    """uv and pip use whatever index the machine is configured with; the repository names none."""
    files = [ROOT / "Makefile", ROOT / ".ci" / "run", ROOT / "pyproject.toml", ROOT / "deploy" / "Dockerfile",
             ROOT / "requirements-bootstrap.txt", *sorted((ROOT / "scripts").iterdir())]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "index-url" not in text and "extra-index" not in text, path
        remote = [u for u in re.findall(r"[a-z+]+://[^\s\"')]+", text)
                  if not re.match(r"[a-z+]+://(127\.0\.0\.1|localhost|0\.0\.0\.0)[:/]", u)]
        assert not remote, (path, remote)
    assert "--require-hashes -r requirements-bootstrap.txt" in (ROOT / "Makefile").read_text()


def test_the_readme_table_gives_each_files_sha256() -> None:
    listed = dict(line.split(maxsplit=1)[::-1] for line in (DATASETS / "SHA256SUMS").read_text().splitlines())
    table = dict(re.findall(r"^\| ([\w/.\-]+) \|.*\| `([0-9a-f]{64})` \|$", (DATASETS / "README.md").read_text(), re.MULTILINE))
    assert {f"./{k}": v for k, v in table.items()} == listed
