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

.PHONY: demo test lint setup docs

demo: $(STAMP)
	$(BIN)/python -m recipes.classify

# The JAX run skips what cannot depend on the backend (parameter counts,
# TensorFlow-only data code) and, to keep the suite inside 15 minutes, the
# GoogLeNet and SqueezeNet doctests and GoogLeNet's model-zoo test (half a minute
# to build on JAX; the same blocks run there in the other builders, and the
# TensorFlow run covers all three).
# Most of the JAX run's time is XLA compiling one small kernel after another.
# LLVM's optimization level 0 compiles them faster than the kernels lose
# (154 s -> 93 s on 2 cores, with the cache below), and the persistent cache
# lets the two workers, and the next run, reuse each other's kernels (a rerun
# with it warm: 45 s). CI starts from a clean checkout: cold. JAX's own size
# limit keeps an access-time file per kernel under a lock, which made the run
# 4x slower; the cache is cleared instead once it passes 300 MB.
JAX_CACHE := $(VENV)/jax-cache
JAX_TEST_ENV := KERAS_BACKEND=jax \
	XLA_FLAGS="$$XLA_FLAGS --xla_backend_optimization_level=0" \
	JAX_COMPILATION_CACHE_DIR=$(CURDIR)/$(JAX_CACHE) \
	JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
# Then every recipe's --quick form trains on JAX (tests/recipes/test_jax_backend.py,
# skipped on TensorFlow), with one test each of the doctor, predict, a claim
# and a search, in a run of its own without the optimization level 0: the
# recipes train for minutes, where slow kernels cost more than slow compiles
# (5:46 -> 3:22 on 2 cores).
JAX_RECIPES_ENV := KERAS_BACKEND=jax \
	JAX_COMPILATION_CACHE_DIR=$(CURDIR)/$(JAX_CACHE)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal
	@if [ -d $(JAX_CACHE) ] && [ $$(du -sm $(JAX_CACHE) | cut -f1) -gt 300 ]; then \
		rm -rf $(JAX_CACHE); fi
	$(JAX_TEST_ENV) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal \
		tests/components components \
		-m "not backend_independent" \
		--deselect components/models/googlenet.py::components.models.googlenet.googlenet \
		--deselect components/models/squeezenet.py::components.models.squeezenet.squeezenet \
		--deselect "tests/components/test_models.py::test_every_builder_runs_and_round_trips[googlenet]"
	$(JAX_RECIPES_ENV) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal \
		tests/recipes/test_jax_backend.py \
		tests/recipes/test_doctor.py::test_a_rate_of_ten_fails_and_exits_1 \
		tests/recipes/test_predict.py::test_classifier_trained_on_an_npz_scores_an_npz \
		"tests/recipes/test_claims.py::test_each_claim_in_its_quick_form[momentum]" \
		tests/tuning/test_search.py::test_search_reports_writes_json_and_retrains

lint: $(STAMP)
	$(BIN)/ruff check components recipes tuning benchmarks tests

# The documentation site, into site/; --strict turns a broken link, a missing
# reference or a docstring warning into a failed build (tests/test_docs.py
# builds it the same way).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)
