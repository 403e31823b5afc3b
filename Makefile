# One entry point for everything a developer does. `make run` and
# `make test` set up the virtual environment and generated code themselves.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROTOS := $(shell find proto -name '*.proto')
GENERATED := xobito/ingest/v1/events_pb2.py

.PHONY: help install proto run test bench chaos lint format constraints clean

help:
	@echo "make run     start PostgreSQL, Valkey and every service"
	@echo "make test    run the whole test suite"
	@echo "make bench   measure speed on this machine (bench/results/latest.json)"
	@echo "make chaos   crash services and servers under load; nothing may be lost"
	@echo "make proto   regenerate the gRPC code from proto/"
	@echo "make lint    ruff and mypy"
	@echo "make constraints  update the pinned versions to the newest allowed"
	@echo "make clean   remove the virtual environment and local data"

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable '.[dev]'
	touch $@

install: $(INSTALLED)

$(GENERATED): $(PROTOS) tools/protogen.py | $(INSTALLED)
	$(BIN)/python tools/protogen.py

proto: $(INSTALLED)
	$(BIN)/python tools/protogen.py

run: $(INSTALLED) $(GENERATED)
	$(BIN)/xobito run

test: $(INSTALLED) $(GENERATED)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(INSTALLED) $(GENERATED)
	$(BIN)/python -m bench $(BENCH_ARGS)

chaos: $(INSTALLED) $(GENERATED)
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy xobito services gateway

format: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The newest versions pyproject.toml allows, installed afresh and written
# down as what make install installs; then run make test and make lint.
constraints:
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	{ sed -n '1,2p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable; } > constraints.new
	mv constraints.new constraints.txt
	touch $(INSTALLED)

clean:
	rm -rf $(VENV) .data
