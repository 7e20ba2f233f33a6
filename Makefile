# The two commands: `make demo` and `make test`. Both set everything up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test install chromium xvfb agents lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

chromium: install
	@PYTHON=$(BIN)/python bash scripts/ensure-chromium.sh

# For the headed-browser tests (mictl profile capture); without it they skip.
xvfb:
	-@bash scripts/ensure-xvfb.sh

# The dry run's summary first (what starts, ports, memory); informational.
demo: install chromium
	-@$(BIN)/mictld --dry-run -c etc/demo.toml
	$(BIN)/mictld -c etc/demo.toml

# Claude Code and Codex CLI (npm, into .cache/npm) for the agent tests; without them they skip.
agents:
	-@bash scripts/ensure-agents.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install chromium xvfb agents lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install chromium
	$(BIN)/python bench/restart_latency.py

clean:
	rm -rf $(VENV) var
