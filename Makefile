# Two commands on a fresh machine: `make demo` and `make test`. Each installs first if needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-slow lint format bench bench-large clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	sh scripts/ensure-poppler.sh
	sh scripts/ensure-java.sh
	touch $(STAMP)

demo: install
	$(BIN)/clvmodel demo

test: install
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: install
	$(BIN)/python -m pytest -m slow -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/run.py

bench-large: install
	$(BIN)/python bench/run.py --large

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
