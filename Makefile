# The two commands the README opens with: `make demo` and `make test`.
# Both create .venv when missing and install the project with its dev extra;
# the install re-runs only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 3
# pytest-xdist workers. Most tests are single-threaded Python (tracing, small
# steps, child processes): two workers on CI's two cores took the TensorFlow
# run from 11:45 to 8:29. `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2

.PHONY: demo test lint setup

demo: $(STAMP)
	$(BIN)/python -m recipes.classify

# The JAX run skips what cannot depend on the backend (parameter counts,
# TensorFlow-only data code) and, to keep the suite inside 15 minutes, the
# GoogLeNet and SqueezeNet doctests and GoogLeNet's model-zoo test (half a minute
# to build on JAX; the same blocks run there in the other builders, and the
# TensorFlow run covers all three).
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal
	KERAS_BACKEND=jax $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal \
		tests/components components \
		-m "not backend_independent" \
		--deselect components/models/googlenet.py::components.models.googlenet.googlenet \
		--deselect components/models/squeezenet.py::components.models.squeezenet.squeezenet \
		--deselect "tests/components/test_models.py::test_every_builder_runs_and_round_trips[googlenet]"

lint: $(STAMP)
	$(BIN)/ruff check components recipes tuning benchmarks tests

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)
