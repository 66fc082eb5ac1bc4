# Shared by the collbench sbatch scripts: environment set-up and the launch line.
# Sourced, never run. Every setting can come from the environment (export ... ; sbatch ...).

: "${COLLBENCH_VENV:=}"            # a virtualenv holding collbench ("" = collbench already on PATH)
: "${COLLBENCH_MODULES:=}"         # modules to load first, e.g. "openmpi/4.1.6 cuda/12.4"
: "${COLLBENCH_SRUN_MPI:=pmix}"    # srun --mpi=TYPE (pmix, pmi2, ...), or "mpiexec" to launch with mpiexec
: "${COLLBENCH_OUTDIR:=$PWD/collbench-results}"   # results go to $COLLBENCH_OUTDIR/<job id>
: "${COLLBENCH_LABEL:=${SLURM_CLUSTER_NAME:-slurm}-${SLURM_JOB_ID:-local}}"
: "${COLLBENCH_TIMEOUT:=600}"     # collbench run --timeout: end the whole job when a step makes no progress for this
                                  # many seconds (a hung call, a cut link, a dead node), naming the cause; "" for none

collbench_setup() {
    if [ -n "$COLLBENCH_MODULES" ]; then
        # shellcheck disable=SC2086
        module load $COLLBENCH_MODULES
    fi
    if [ -n "$COLLBENCH_VENV" ]; then
        # shellcheck disable=SC1091
        . "$COLLBENCH_VENV/bin/activate"
    fi
    command -v collbench >/dev/null || { echo "collbench is not on PATH: set COLLBENCH_VENV" >&2; exit 2; }
}

# The results directory of this job (of this array task, in a job array).
collbench_outdir() {
    if [ -n "${SLURM_ARRAY_JOB_ID:-}" ]; then
        echo "$COLLBENCH_OUTDIR/${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
    else
        echo "$COLLBENCH_OUTDIR/${SLURM_JOB_ID:-local}"
    fi
}

# Run "collbench ARGS" on every task of the allocation. A rank that dies (an MPI_Init failure, a
# crash) ends the whole step at once (--kill-on-bad-exit) instead of leaving the others waiting
# until the time limit.
collbench_launch() {
    if [ "$COLLBENCH_SRUN_MPI" = "mpiexec" ]; then
        mpiexec -n "${SLURM_NTASKS:-1}" collbench "$@"
    else
        srun --mpi="$COLLBENCH_SRUN_MPI" --kill-on-bad-exit=1 collbench "$@"
    fi
}

# Build the HTML report from whatever the run left (complete or cut short).
collbench_report() {
    collbench report "$1" -o "$1/report.html" && echo "report: $1/report.html"
}
