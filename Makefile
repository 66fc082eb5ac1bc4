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
