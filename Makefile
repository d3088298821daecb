# The two commands the README opens with: `make demo` and `make test`.
# Both create .venv when missing and install the project with its dev extra;
# the install re-runs only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: demo test lint setup

demo: $(STAMP)
	$(BIN)/python -m recipes.classify

# The JAX run skips what cannot depend on the backend (parameter counts,
# TensorFlow-only data code) and GoogLeNet's doctest: building GoogLeNet takes
# half a minute on JAX, and the model-zoo test already builds it there.
test: $(STAMP)
	$(BIN)/python -m pytest
	KERAS_BACKEND=jax $(BIN)/python -m pytest tests/components components \
		-m "not backend_independent" \
		--deselect components/models/googlenet.py::components.models.googlenet.googlenet

lint: $(STAMP)
	$(BIN)/ruff check components recipes tuning benchmarks tests

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)
