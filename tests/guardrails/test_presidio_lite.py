"""Presidio's recognizers without its package imports: no spaCy in a process that only scans PII,
the same findings as with Presidio imported in full, and the full package still there on demand."""

from __future__ import annotations

import json
import subprocess
import sys

SCAN = """
import json, sys
from guardrails.datasets import dataset_path
from guardrails.scanners.pii import PiiScanner
from guardrails.types import ScanContext
texts = [s["full_text"] for s in json.loads(dataset_path("pii", "presidio_synth_v2.json").read_text())]
s = PiiScanner()
out = [[(f.rule, f.start, f.end) for f in s.scan(t, ScanContext())] for t in texts]
print(json.dumps({"findings": out, "spacy": "spacy" in sys.modules,
                  "engine": "presidio_analyzer.analyzer_engine" in sys.modules}))
"""


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_pii_scans_import_neither_spacy_nor_the_analyzer_engine_and_find_what_full_presidio_finds() -> None:
    lite = _run(SCAN)
    full = _run("import presidio_analyzer.predefined_recognizers\n" + SCAN)  # Presidio in full first
    assert lite["spacy"] is False and lite["engine"] is False
    assert full["spacy"] is True  # the comparison is against the real package
    assert lite["findings"] == full["findings"]
    assert sum(len(f) for f in lite["findings"]) > 250


def test_the_full_package_is_still_importable_after_the_light_one() -> None:
    code = """
import json, sys
from guardrails.scanners.pii import PiiScanner
from guardrails.types import ScanContext
PiiScanner().scan("mail a@example.com", ScanContext())
before = "spacy" in sys.modules
from presidio_analyzer import AnalyzerEngine, RecognizerResult
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from presidio_analyzer.nlp_engine import NlpArtifacts
print(json.dumps({"before": before, "after": "spacy" in sys.modules, "names": [AnalyzerEngine.__name__,
      SpacyRecognizer.__name__, NlpArtifacts.__module__, RecognizerResult.__name__]}))
"""
    r = _run(code)
    assert r["before"] is False and r["after"] is True
    assert r["names"] == ["AnalyzerEngine", "SpacyRecognizer", "presidio_analyzer.nlp_engine.nlp_artifacts",
                          "RecognizerResult"]
