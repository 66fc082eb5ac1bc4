# collbench: `make bench` runs a local sweep on 4 ranks; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-collbench
RANKS  ?= 4
ALGOS  ?= ring,tree,mesh,rhd,ps,mpi
BENCH_ARGS ?= -b 8 -e 16M -f 4 -d float32 -o sum --time-budget 0.3

.PHONY: bench test lint clean gpu-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[mpich,test]'
	touch $(STAMP)

bench: $(STAMP)
	@out=results/$$(date -u +%Y%m%d-%H%M%S); \
	$(BIN)/mpiexec -n $(RANKS) $(BIN)/collbench run --algo $(ALGOS) $(BENCH_ARGS) --label make-bench --out $$out && \
	$(BIN)/collbench report $$out -o $$out/report.html

test: $(STAMP)
	$(BIN)/python -m ruff check collectives bench reports tests
	$(BIN)/python -m pytest

# On a GPU machine: correctness of every algorithm on CuPy at 1, 2 and 4 ranks, NCCL, a short sweep.
# GPU_PYTHON is the Python that has CuPy and mpi4py (a lent machine's python3; carry wheels it lacks).
GPU_PYTHON ?= python3
gpu-check:
	PYTHONPATH=$(CURDIR):$$PYTHONPATH $(GPU_PYTHON) -m bench.gpucheck

clean:
	rm -rf $(VENV) results

# Benchmarks as tests (tests/bench, pytest-benchmark, the slowest rank's time): `make perf` runs them on PERF_RANKS
# ranks and saves the run in PERF_STORAGE; `make perf-compare` runs them again and fails when a median is more than
# PERF_FAIL slower than in the last saved run. PERF_ARGS adds pytest options (-k, --bench-rounds N, ...).
.PHONY: perf perf-compare
MPIEXEC      ?= $(BIN)/mpiexec
PERF_RANKS   ?= 2
PERF_STORAGE ?= .benchmarks
# 150%: on the shared 2-core VM this was written on, medians of unchanged code moved by up to +104% between runs.
PERF_FAIL    ?= median:150%
PERF_ARGS    ?=
PERF := $(MPIEXEC) -n $(PERF_RANKS) $(BIN)/python -m pytest tests/bench --benchmark-only \
	--benchmark-storage=$(PERF_STORAGE) --benchmark-columns=min,median,iqr,max,rounds,iterations $(PERF_ARGS)

perf: $(STAMP)
	$(PERF) --benchmark-autosave

perf-compare: $(STAMP)
	@ls $(PERF_STORAGE)/*/*.json >/dev/null 2>&1 || { echo "make perf-compare: no saved run in $(PERF_STORAGE); run 'make perf' first" >&2; exit 2; }
	$(PERF) --benchmark-compare --benchmark-compare-fail=$(PERF_FAIL)
