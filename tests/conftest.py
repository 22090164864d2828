"""Test-wide settings: nothing reaches the internet; real services come from tests/services.py."""

import os

# Offline: set before any library import can read them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Public datasets: the repository's own datasets/ (guardrails.datasets), unless SLUICE_DATASETS says otherwise.
# Model calls in tests go only to loopback mocks or the local model; refuse the real providers.
for _var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_API_KEY"):
    os.environ.pop(_var, None)

pytest_plugins = ["tests.services", "tests.gateway_fixtures"]
