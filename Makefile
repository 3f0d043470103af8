# arbx: two commands for a fresh machine with Python 3.11 (see README).
#   make run   install and serve arbx on the embedded default (Parquet + SQLite) at 127.0.0.1:8000
#              (make run PORT=8001 for another port)
#   make test  install and run the test suite
PYTHON ?= python3.11
UV_BOOTSTRAP := .tools/uv
UV := $(shell command -v uv 2>/dev/null || echo $(UV_BOOTSTRAP)/bin/uv)
export UV_PYTHON_DOWNLOADS := never
# trust the system's certificate store (corporate or sandbox CAs), as pip and curl do
# (UV_SYSTEM_CERTS: uv 0.13 deprecated UV_NATIVE_TLS and warns on every command)
export UV_SYSTEM_CERTS := 1
export UV_PYTHON := $(PYTHON)
# compile bytecode at install time, as the Dockerfile does: the first `arbx` run of a fresh
# venv does not pay for compiling every module it imports (and read-only installs never do)
export UV_COMPILE_BYTECODE := 1

.PHONY: run test lint install install-dev bench-deps

$(UV_BOOTSTRAP)/bin/uv:
	$(PYTHON) -m venv $(UV_BOOTSTRAP)
	$(UV_BOOTSTRAP)/bin/python -m pip install --quiet uv

install: $(if $(shell command -v uv 2>/dev/null),,$(UV_BOOTSTRAP)/bin/uv)
	$(UV) sync --locked --no-dev

install-dev: $(if $(shell command -v uv 2>/dev/null),,$(UV_BOOTSTRAP)/bin/uv)
	$(UV) sync --locked

bench-deps: $(if $(shell command -v uv 2>/dev/null),,$(UV_BOOTSTRAP)/bin/uv)
	$(UV) sync --locked --group bench

run: install
	.venv/bin/arbx data load-samples --if-empty
	.venv/bin/arbx serve $(if $(PORT),--port $(PORT))

test: install-dev
	.venv/bin/pytest

lint: install-dev
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports
