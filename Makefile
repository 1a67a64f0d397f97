# Two commands for a fresh machine: `make try` (shell mode with demo data) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: try test lint format serve

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

try: $(VENV)/.installed
	$(PY) -m bot demo
	$(PY) -m bot shell

test: $(VENV)/.installed
	VENV=$(VENV) bash scripts/test.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

serve: $(VENV)/.installed
	$(PY) -m bot serve
