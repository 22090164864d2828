# Bootstraps .venv from a fresh clone: uv (pinned) installs the hash-locked dependency set.
SHELL := /bin/bash
PY := .venv/bin/python
UV := .venv-tools/bin/uv
INDEX := https://pypi.org/simple

# Offline: nothing at run time reaches the internet.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export LITELLM_LOCAL_MODEL_COST_MAP := True
export RAGAS_DO_NOT_TRACK := true
export DO_NOT_TRACK := 1
export OTEL_SDK_DISABLED ?= false
# Public datasets (guardrail and RAG evaluation) live in shared/ beside the repository.
export SLUICE_DATASETS ?= $(abspath $(CURDIR)/../shared/datasets)

.PHONY: install demo test test-fast lint lock bench clean

$(UV):
	python3 -m venv .venv-tools
	.venv-tools/bin/pip install -q --disable-pip-version-check uv==0.13.8

.venv/.installed: requirements.lock requirements-nodeps.lock pyproject.toml | $(UV)
	$(UV) venv -q --allow-existing .venv --python python3.11
	$(UV) pip sync -q --python $(PY) --require-hashes --index-url $(INDEX) requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps --require-hashes --index-url $(INDEX) -r requirements-nodeps.lock
	$(UV) pip install -q --python $(PY) --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	touch $@

install: .venv/.installed

demo: install
	.venv/bin/sluice serve --config examples/sluice.yaml

test: install
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: install
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow"

lint: install
	.venv/bin/ruff check gateway guardrails prompts rag evals tests bench
	.venv/bin/mypy gateway guardrails prompts rag evals bench

# Re-resolve the lock (needs the network to PyPI); review the diff before committing.
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 --index-url $(INDEX) --generate-hashes --no-header -o requirements.lock

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf .venv .venv-tools .sluice
