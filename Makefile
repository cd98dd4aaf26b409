# minyi: `make run` serves the demo, `make test` runs the checks. Both set everything up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
DEMO_ENV := MINYI_ENV_NAME=development MINYI_SPONSOR=江州市委考核办（演示） MINYI_POLLSTER=江州市民意调查中心（演示）

.PHONY: run test lint typecheck pytest bench translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(DEMO_ENV) $(BIN)/minyi db upgrade
	$(DEMO_ENV) $(BIN)/minyi demo --if-empty
	@echo "Serving on http://127.0.0.1:5000 (Ctrl-C to stop)"
	$(DEMO_ENV) $(BIN)/minyi run --host 127.0.0.1 --port 5000

test: $(VENV)/.installed-dev lint typecheck pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict sampling
	$(BIN)/mypy survey

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest

# The system benchmarks also need locust (the `bench` extra), wrk (bench/setup_peers.sh),
# PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (bench/bench_system.py).
$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-dev
	$(PIP) install -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	PYTHON=$(PYTHON) bench/setup_peers.sh
	$(BIN)/python bench/run_all.py

translations: $(VENV)/.installed-dev
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ -o survey/translations/messages.pot --no-location --omit-header survey sampling templates
	$(BIN)/pybabel update -i survey/translations/messages.pot -d survey/translations --no-wrap
	$(BIN)/pybabel compile -d survey/translations

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
