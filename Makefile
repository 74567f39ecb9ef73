# Lenses — every entry point CI and developers use. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
GEN := gen
PROTOS := $(wildcard proto/lenses/v1/*.proto)
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install proto lint test test-rules golden bench run clean node

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(PROTOS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The code generators first (`make proto` installs them): the editable install must see gen/lenses.
	$(MAKE) --no-print-directory proto
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The engine's evaluation path compiled with mypyc (tools/compile_engine.py), again
# whenever one of its sources changes; engine/__init__.py refuses stale extensions.
COMPILED_RECORD := engine/_compiled_sources.json
$(COMPILED_RECORD): $(STAMP) $(wildcard engine/*.py) tools/compile_engine.py
	$(PY) tools/compile_engine.py

install: $(STAMP) $(COMPILED_RECORD) ## Create .venv with the project, the `lenses` command and the compiled engine

# `make proto` works on a fresh clone too: it needs only the code generators, not the install.
proto: ## Generate Python code and type stubs from proto/ into gen/
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c 'import grpc_tools, mypy_protobuf' 2>/dev/null || \
	  $(PY) -m pip install --quiet 'grpcio-tools>=1.66,<2' 'mypy-protobuf>=3.6,<6'
	rm -rf $(GEN) && mkdir -p $(GEN)
	PATH=$(BIN):$$PATH $(PY) -m grpc_tools.protoc -I proto \
	  -I "$$($(PY) -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')" \
	  --python_out=$(GEN) --grpc_python_out=$(GEN) --mypy_out=$(GEN) --mypy_grpc_out=$(GEN) $(PROTOS)
	touch $(GEN)/lenses/__init__.py $(GEN)/lenses/v1/__init__.py $(GEN)/lenses/py.typed

node_modules/.installed: package.json
	npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error
	touch $@

node: node_modules/.installed ## Install the Node tools (buf, the interop client)

lint: install node ## ruff, mypy and buf lint
	$(BIN)/ruff check engine server tests tools
	$(BIN)/mypy
	npx buf lint proto

# The suite in PYTEST_WORKERS processes (pytest-xdist; one per core of the 2-core CI
# machine: quality.md's 10-minute budget), then the tests marked serial on their own.
PYTEST_WORKERS ?= 2
test: install node ## The whole test suite (what CI runs)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist worksteal -m "not serial"
	$(BIN)/pytest -q -m serial

test-rules: install ## Only the rule test cases in rules/tests
	$(BIN)/lenses test rules

golden: install ## Regenerate the golden compiled rulesets in tests/golden
	$(PY) -m tests.golden_tool

bench: install ## Benchmarks: figures and ratios, never a failure on speed
	$(PY) -m tests.bench

run: install ## Migrate the database and start the server on 127.0.0.1:50051 (SQLite by default)
	$(BIN)/lenses migrate
	$(BIN)/lenses serve

clean: ## Remove the virtualenv, generated code and caches
	rm -rf $(VENV) $(GEN) node_modules .pytest_cache .mypy_cache .ruff_cache build
	rm -f engine/*.so $(COMPILED_RECORD)
