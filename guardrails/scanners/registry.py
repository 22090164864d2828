"""Build scanner instances from config. One constructor per `type`, registered in a table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from guardrails.config import (
    CanaryScannerConfig,
    DenyListScannerConfig,
    InjectionScannerConfig,
    InvisibleTextScannerConfig,
    JsonOutputScannerConfig,
    MaxTokensScannerConfig,
    PiiScannerConfig,
    ScannerConfig,
    SecretsScannerConfig,
)
from guardrails.scanners.base import Scanner


def _pii(name: str, c: PiiScannerConfig) -> Scanner:
    from guardrails.scanners.pii import PiiScanner

    return PiiScanner(c.entities, score_threshold=c.score_threshold, phone_regions=c.phone_regions, name=name)


def _secrets(name: str, c: SecretsScannerConfig) -> Scanner:
    from guardrails.scanners.secrets import DEFAULT_PLUGINS, SecretsScanner

    return SecretsScanner(c.plugins if c.plugins is not None else DEFAULT_PLUGINS, name=name)


def _injection(name: str, c: InjectionScannerConfig) -> Scanner:
    from pathlib import Path

    from guardrails.scanners.injection import InjectionScanner

    return InjectionScanner(threshold=c.threshold, model_path=Path(c.model_path) if c.model_path else None,
                            operating_point=c.operating_point, name=name)


def _denylist(name: str, c: DenyListScannerConfig) -> Scanner:
    from guardrails.scanners.rules import DenyListScanner

    return DenyListScanner(
        substrings=c.substrings, regexes=c.regexes, topics=c.topics, case_sensitive=c.case_sensitive, name=name
    )


def _invisible(name: str, c: InvisibleTextScannerConfig) -> Scanner:
    from guardrails.scanners.unicode import InvisibleTextScanner

    return InvisibleTextScanner(tuple(c.classes), name=name)


def _max_tokens(name: str, c: MaxTokensScannerConfig) -> Scanner:
    from guardrails.scanners.limits import MaxTokensScanner

    return MaxTokensScanner(c.max_tokens, name=name)


def _json(name: str, c: JsonOutputScannerConfig) -> Scanner:
    from guardrails.scanners.json_output import JsonOutputScanner

    return JsonOutputScanner(always=c.always, name=name)


def _canary(name: str, c: CanaryScannerConfig) -> Scanner:
    from guardrails.scanners.canary import CanaryScanner

    return CanaryScanner(c.canaries, name=name)


BUILDERS: dict[str, Callable[[str, Any], Scanner]] = {
    "pii": _pii,
    "secrets": _secrets,
    "injection": _injection,
    "denylist": _denylist,
    "invisible_text": _invisible,
    "max_tokens": _max_tokens,
    "json_output": _json,
    "canary": _canary,
}


def build_scanner(name: str, config: ScannerConfig) -> Scanner:
    return BUILDERS[config.type](name, config)
