# collbench: `make bench` runs a local sweep on 4 ranks; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-collbench
RANKS  ?= 4
ALGOS  ?= mpi
BENCH_ARGS ?= -b 8 -e 16M -f 2 -d float32 -o sum

.PHONY: bench test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[mpich,test]'
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/mpiexec -n $(RANKS) $(BIN)/collbench run --algo $(ALGOS) $(BENCH_ARGS) --label make-bench

test: $(STAMP)
	$(BIN)/python -m ruff check collectives bench reports tests
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) results
