# Bootstraps .venv from a fresh clone: uv (pinned) installs the hash-locked dependency set.
SHELL := /bin/bash
PY := .venv/bin/python
UV := .venv-tools/bin/uv

# Offline: nothing at run time reaches the internet.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export LITELLM_LOCAL_MODEL_COST_MAP := True
export RAGAS_DO_NOT_TRACK := true
export DO_NOT_TRACK := 1
export OTEL_SDK_DISABLED ?= false

.PHONY: install system-deps node-deps demo test test-fast lint lock bench clean

$(UV): requirements-bootstrap.txt
	python3 -m venv .venv-tools
	.venv-tools/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements-bootstrap.txt

.venv/.installed: requirements.lock requirements-nodeps.lock pyproject.toml | $(UV)
	$(UV) venv -q --allow-existing .venv --python python3.11
	$(UV) pip sync -q --python $(PY) --require-hashes requirements.lock
	$(UV) pip install -q --python $(PY) --no-deps --require-hashes -r requirements-nodeps.lock
	$(UV) pip install -q --python $(PY) --no-deps --no-build-isolation -e . --config-settings editable_mode=compat
	touch $@

install: .venv/.installed

# Redis, PostgreSQL, Chromium and wrk: what the tests and benches start themselves.
system-deps:
	bash scripts/system-deps

# Node 22, the Node SDKs, Claude Code and Codex CLI for tests/clients (npm ci from the hash-locked lock).
node-deps:
	bash scripts/node-deps

demo: install
	.venv/bin/sluice serve --config examples/sluice.yaml

test: install system-deps node-deps
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: install system-deps
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow"

lint: install
	.venv/bin/ruff check gateway guardrails prompts rag evals minilm tools tests bench
	.venv/bin/mypy gateway guardrails prompts rag evals minilm tools bench

# Re-resolve the lock (needs the network to PyPI); review the diff before committing.
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes --no-header -o requirements.lock

bench: install system-deps
	$(PY) bench/run_all.py

clean:
	rm -rf .venv .venv-tools .sluice
