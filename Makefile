# neuroplast: the two commands of README.md.
#   make demo   — create .venv, install neuroplast (CPU torch pinned), run `neuroplast demo`
#   make test   — create .venv, install neuroplast with test extras, run ruff, the default test
#                 suite and the slow tests (reproductions on the quick protocol)
# torch is installed first, pinned, so pip never pulls a multi-GB CUDA build on a CPU machine.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN     = $(VENV)/bin

.PHONY: install install-test demo test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip >/dev/null

install: $(BIN)/python
	$(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e .

install-test: $(BIN)/python
	$(BIN)/pip install "$(TORCH)"
	$(BIN)/pip install -e ".[test]"

demo: install
	$(BIN)/neuroplast demo

test: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q
	$(BIN)/python -m pytest -q -m slow

test-fast: install-test
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check src tests benchmarks

bench: install-test
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
