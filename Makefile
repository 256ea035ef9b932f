# `make demo`, `make test` and `make test-all` work on a fresh clone: they install uv, then
# the locked versions in uv.lock, on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv itself lives apart from .venv, which `uv sync` keeps to exactly what uv.lock lists.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# Only this machine's interpreters: uv would otherwise download a missing Python.
export UV_PYTHON_DOWNLOADS := never
# pyenv's interpreters (3.10 to 3.13 here), ahead of its shims, which only run the selected one.
PYENV_BINS := $(subst $() ,:,$(wildcard $(HOME)/.pyenv/versions/3.1[0-3].*/bin))

.PHONY: test test-all lint typecheck unit docs serve-docs demo lock clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --python $(PYTHON)
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy voicenter_dialer tests docs noxfile.py $(wildcard benchmarks)

unit: $(STAMP)
	$(BIN)/pytest

# The documentation site, into site/; --strict fails on a broken link or API reference.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The site at http://127.0.0.1:$(DOCS_PORT)/, rebuilt on every edit (Ctrl-C stops it). Its links
# name folders, which a web server answers with their index.html and a browser on site/ does not.
DOCS_PORT ?= 8000
serve-docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:$(DOCS_PORT)

# The fast one: Python 3.11 (python3 here) only.
test: lint typecheck unit docs

# Lint and types once, then noxfile.py's sessions: the tests on every Python from 3.10 to 3.13
# and on the lowest declared versions of the runtime dependencies. A missing interpreter is
# skipped here and fails under CI (nox's default when CI is set).
test-all: lint typecheck docs
	PATH="$(abspath $(TOOLS)/bin):$(PYENV_BINS):$$PATH" $(BIN)/nox

# The latest versions that pyproject.toml allows, for every Python it supports.
lock: $(UV)
	$(UV) lock --upgrade

# The main job: 100,000 generated leads uploaded to the bundled fake dialer over loopback HTTP.
demo: $(STAMP)
	$(BIN)/voicenter-dialer demo

clean:
	rm -rf $(VENV) $(TOOLS) .nox site .mypy_cache .pytest_cache .ruff_cache .hypothesis
