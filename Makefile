# Two commands for a fresh machine: `make try` (shell mode with demo data) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: try test lint format serve lock

# Exactly the locked versions (requirements-dev.txt: the runtime lock plus the test tools), checked
# against their hashes; then the project itself, whose dependencies are already there.
$(VENV)/.installed: requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-dev.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

try: $(VENV)/.installed
	$(PY) -m bot shell --demo

test: $(VENV)/.installed
	VENV=$(VENV) bash scripts/test.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

serve: $(VENV)/.installed
	$(PY) -m bot serve

# Re-lock after changing pyproject.toml's dependencies: pins already in the lock files stay as
# they are. `make lock PIP_COMPILE_ARGS=--upgrade` moves every pin to the newest release allowed,
# `PIP_COMPILE_ARGS="--upgrade-package httpx"` only that one. requirements-dev.txt is compiled
# against requirements.txt, so the two agree on every runtime dependency.
PIP_COMPILE_ARGS ?=
LOCK_VENV := .venv-lock
# No index URLs or wheel folders in the lock: they are this machine's, not the deployment's.
PIP_COMPILE_FLAGS := --quiet --generate-hashes --no-emit-index-url --no-emit-find-links
lock:
	python3 -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip 'pip-tools==7.7.0'
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile $(PIP_COMPILE_FLAGS) \
		--strip-extras $(PIP_COMPILE_ARGS) --output-file requirements.txt pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile $(PIP_COMPILE_FLAGS) \
		--strip-extras $(PIP_COMPILE_ARGS) --extra dev --constraint requirements.txt \
		--output-file requirements-dev.txt pyproject.toml
