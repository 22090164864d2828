"""Presidio's pattern recognizers without Presidio's package imports (and so without spaCy).

`import presidio_analyzer` runs the package's `__init__`, which imports the AnalyzerEngine, the NLP
engines and with them spaCy (~70 MiB of a gateway's RSS), although the pattern recognizers we call
(guardrails/scanners/pii.py) use none of it. `load()` imports the recognizer modules themselves,
unchanged, from the installed package: it registers the package (and the `predefined_recognizers`
packages on the way) as plain module objects without running their `__init__`, fills in the few
names the recognizer modules import from them (Pattern, PatternRecognizer, EntityRecognizer, ...),
and gives `presidio_analyzer.nlp_engine` a stand-in `NlpArtifacts` (imported by two recognizers
for type hints only; the real class imports spaCy).

Nothing is lost: a name these light packages lack (`from presidio_analyzer import AnalyzerEngine`)
runs the real `__init__` into them on first use (PEP 562 module `__getattr__`), spaCy included.
If Presidio is already imported in full, `load()` uses it as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from pathlib import Path
from typing import Any

_PKG = "presidio_analyzer"
# recognizer class -> module under presidio_analyzer.predefined_recognizers
RECOGNIZER_MODULES: dict[str, str] = {
    "EmailRecognizer": "generic.email_recognizer",
    "CreditCardRecognizer": "generic.credit_card_recognizer",
    "IbanRecognizer": "generic.iban_recognizer",
    "IpRecognizer": "generic.ip_recognizer",
    "PhoneRecognizer": "generic.phone_recognizer",
    "UrlRecognizer": "generic.url_recognizer",
    "CryptoRecognizer": "generic.crypto_recognizer",
    "MacAddressRecognizer": "generic.mac_recognizer",
    "UsSsnRecognizer": "country_specific.us.us_ssn_recognizer",
    "UsItinRecognizer": "country_specific.us.us_itin_recognizer",
    "UsPassportRecognizer": "country_specific.us.us_passport_recognizer",
    "UsBankRecognizer": "country_specific.us.us_bank_recognizer",
    "NhsRecognizer": "country_specific.uk.uk_nhs_recognizer",
}
# names the recognizer modules import from the package itself, in dependency order
_CORE = [("analysis_explanation", "AnalysisExplanation"), ("recognizer_result", "RecognizerResult"),
         ("entity_recognizer", "EntityRecognizer"), ("local_recognizer", "LocalRecognizer"),
         ("pattern", "Pattern"), ("pattern_recognizer", "PatternRecognizer")]
_lock = threading.RLock()


class NlpArtifacts:
    """Stand-in for presidio_analyzer.nlp_engine.NlpArtifacts (a type hint in the recognizers we
    call, which always get None for it)."""


def _light_package(name: str, path: Path) -> types.ModuleType:
    """`name` as a package whose `__init__` has not run; the first missing attribute runs it."""
    mod = types.ModuleType(name)
    mod.__path__ = [str(path)]
    mod.__package__ = name
    init = path / "__init__.py"
    mod.__file__ = str(init)
    state = {"ran": False}

    def __getattr__(attr: str) -> Any:  # PEP 562: only names not set already get here
        if attr.startswith("__") or state["ran"]:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        with _lock:
            if not state["ran"]:
                state["ran"] = True
                exec(compile(init.read_text(encoding="utf-8"), str(init), "exec"), mod.__dict__)  # noqa: S102
        try:
            return mod.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    mod.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = mod
    return mod


def _install() -> None:
    spec = importlib.util.find_spec(_PKG)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("presidio-analyzer is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    pkg = _light_package(_PKG, root)
    for sub, attr in _CORE:
        setattr(pkg, attr, getattr(importlib.import_module(f"{_PKG}.{sub}"), attr))
    nlp = _light_package(f"{_PKG}.nlp_engine", root / "nlp_engine")
    nlp.NlpArtifacts = NlpArtifacts  # type: ignore[attr-defined]
    rec = root / "predefined_recognizers"
    _light_package(f"{_PKG}.predefined_recognizers", rec)
    for sub in ("generic", "country_specific", "country_specific.us", "country_specific.uk"):
        _light_package(f"{_PKG}.predefined_recognizers.{sub}", rec.joinpath(*sub.split(".")))


def recognizer_class(name: str) -> Any:
    """A Presidio recognizer class by name, imported from its own module (see the docstring)."""
    with _lock:
        if _PKG not in sys.modules:
            _install()
    module = importlib.import_module(f"{_PKG}.predefined_recognizers.{RECOGNIZER_MODULES[name]}")
    return getattr(module, name)


def pattern_class() -> Any:
    """presidio_analyzer.Pattern, without importing the package in full."""
    with _lock:
        if _PKG not in sys.modules:
            _install()
    return importlib.import_module(f"{_PKG}.pattern").Pattern
