# lstm-init-bench: `make bench` and `make test` work on a fresh machine (Python 3.11, no GPU).
PY ?= python3.11
VENV := .venv
PROFILE ?= quick
OUT ?= results/$(PROFILE)
ARGS ?=
START := $(shell date +%s)
PERF_PROFILE ?= standard
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/.cache/jax
# cache every program, not only those over 1 s to compile: the tests start many small sweeps
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS ?= 0

.PHONY: setup bench test test-repeat lint reference test-reference perf perf-gpu sample clean

## the venv: installed with uv (it downloads and installs in parallel; most of a fresh
## setup is downloads), or with pip where uv cannot be installed or fails. Bytecode is compiled
## at install, as pip does: with PYTHONDONTWRITEBYTECODE set, every process (test workers,
## subprocesses, Ray workers) would otherwise compile jax's sources again on import
$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	( $(VENV)/bin/pip install -q uv && $(VENV)/bin/uv pip install -q --compile-bytecode \
	  --python $(VENV)/bin/python -e '.[dev,ray]' ) || \
	( $(VENV)/bin/pip install -q --upgrade pip && $(VENV)/bin/pip install -q -e '.[dev,ray]' )
	touch $@

setup: $(VENV)/.installed

## the default sweep (quick profile: every strategy and control, ar1/ar2/pink, the clean and
## Lasagne-0.1 arms, 5 LRs x 3 seeds) and its report; prints its wall time, setup included
bench: setup
	$(VENV)/bin/python -m bench run --profile $(PROFILE) --out $(OUT) $(ARGS)
	@echo "make bench: $$(( $$(date +%s) - $(START) )) s in all (setup included)"

## the test suite (the Lasagne oracle tests are `make test-reference`), in a random order
## (pytest-randomly) whose seed is printed, on one pytest-xdist worker per core (much of the
## suite waits on subprocesses and compiles), each test module on one worker (its shared
## sweep fixture then runs once), its programs compiled at LLVM level 0 (tests/conftest.py,
## docs/reliability.md); `make test SEED=N` replays an order
ifndef SEED
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
TEST_CMD := $(VENV)/bin/pytest -q -n auto --dist loadscope tests --ignore=tests/reference
test: setup
	@echo "test order: pytest-randomly seed $(SEED) (replay: make test SEED=$(SEED))"
	$(TEST_CMD) --randomly-seed=$(SEED)

## the suite N times in its written order (-p no:randomly -x) and N times in random order
## (seeds 6001...), alternating; stops at the first failing run -> results/test-repeat.md
N ?= 20
test-repeat: setup
	TEST_CMD="$(TEST_CMD)" bash .ci/repeat $(N)

lint: setup
	$(VENV)/bin/ruff check .

## real Theano 1.0.5 + Lasagne 0.1 in .venv-lasagne (CPU), the reference oracle
reference:
	bash bench/studies/oracle/setup.sh

## the oracle tests, and the other tests that need .venv-lasagne (the Lasagne throughput peer),
## which `make test` skips when it has not been built yet (as on a fresh clone)
test-reference: setup reference
	$(VENV)/bin/pytest -q tests/reference tests/test_peers.py \
		"tests/test_perf.py::test_forward_peers_print_one_json_record[lasagne]"

$(VENV)/.peers: $(VENV)/.installed
	$(VENV)/bin/pip install -q -e '.[dev,ray,peers]'
	touch $@

## throughput: engine (a sweep of runs, one run, one whole sweep chunk; the forward pass alone)
## vs Theano+Lasagne vs PyTorch -> results/perf.md
perf: setup $(VENV)/.peers
	-bash bench/studies/oracle/setup.sh
	$(VENV)/bin/python -m bench perf --profile $(PERF_PROFILE) --out results/perf.md $(ARGS)

## GPU checks on a CUDA machine: perf (large profile) and a full large-profile sweep
perf-gpu:
	bash bench/studies/gpu_check.sh

clean:
	rm -rf .cache results/quick results/large results/latest
