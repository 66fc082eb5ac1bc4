/*
 * collbench's floor: MPI_Allreduce timed from C, the way the C benchmarks time it, on buffers
 * and a communicator handed over from Python (collbench floor loads this as a shared library
 * built with the MPI's own mpicc, inside the same MPI job).
 *
 * Two methods, each returning, over the ranks of the communicator, the mean, minimum and
 * maximum of every rank's mean time per call (seconds, from MPI_Wtime):
 *
 * - collbench_floor_osu: as OSU's osu_allreduce. Each call is timed alone and followed by an
 *   untimed barrier; the first `warmup` calls are not counted. The mean over ranks is OSU's
 *   "Avg Latency", the minimum and maximum its "Min" and "Max Latency".
 * - collbench_floor_imb: as IMB-MPI1's Allreduce. After `warmup` untimed calls and two
 *   barriers, `iters` calls run back to back under one clock. The mean, minimum and maximum
 *   over ranks are IMB's t_avg, t_min and t_max.
 *
 * Handles arrive as Fortran integers (MPI_Comm_c2f and friends on the Python side), the one
 * form every MPI library can convert back. A NULL send buffer means MPI_IN_PLACE.
 * Both return MPI_SUCCESS or the error code of the first MPI call that failed.
 */
#include <mpi.h>
#include <stddef.h>

#define CHECK(call)                      \
    do {                                 \
        int err_ = (call);               \
        if (err_ != MPI_SUCCESS) {       \
            return err_;                 \
        }                                \
    } while (0)

/* Mean, minimum and maximum over the ranks of `comm` of each rank's `mean`, into out[0..2]. */
static int over_ranks(double mean, MPI_Comm comm, double *out)
{
    int size;
    double sum;
    CHECK(MPI_Comm_size(comm, &size));
    CHECK(MPI_Allreduce(&mean, &sum, 1, MPI_DOUBLE, MPI_SUM, comm));
    CHECK(MPI_Allreduce(&mean, &out[1], 1, MPI_DOUBLE, MPI_MIN, comm));
    CHECK(MPI_Allreduce(&mean, &out[2], 1, MPI_DOUBLE, MPI_MAX, comm));
    out[0] = sum / size;
    return MPI_SUCCESS;
}

int collbench_floor_osu(const void *send, void *recv, int count, int ftype, int fop, int fcomm, int warmup,
                        int iters, double *out)
{
    MPI_Datatype type = MPI_Type_f2c((MPI_Fint)ftype);
    MPI_Op op = MPI_Op_f2c((MPI_Fint)fop);
    MPI_Comm comm = MPI_Comm_f2c((MPI_Fint)fcomm);
    const void *source = send ? send : MPI_IN_PLACE;
    double total = 0.0;
    int i;

    for (i = 0; i < warmup + iters; i++) {
        double start = MPI_Wtime();
        CHECK(MPI_Allreduce(source, recv, count, type, op, comm));
        double stop = MPI_Wtime();
        CHECK(MPI_Barrier(comm));
        if (i >= warmup) {
            total += stop - start;
        }
    }
    CHECK(MPI_Barrier(comm));
    return over_ranks(iters > 0 ? total / iters : 0.0, comm, out);
}

int collbench_floor_imb(const void *send, void *recv, int count, int ftype, int fop, int fcomm, int warmup,
                        int iters, double *out)
{
    MPI_Datatype type = MPI_Type_f2c((MPI_Fint)ftype);
    MPI_Op op = MPI_Op_f2c((MPI_Fint)fop);
    MPI_Comm comm = MPI_Comm_f2c((MPI_Fint)fcomm);
    const void *source = send ? send : MPI_IN_PLACE;
    int i;

    for (i = 0; i < warmup; i++) {
        CHECK(MPI_Allreduce(source, recv, count, type, op, comm));
    }
    CHECK(MPI_Barrier(comm));
    CHECK(MPI_Barrier(comm));
    double start = MPI_Wtime();
    for (i = 0; i < iters; i++) {
        CHECK(MPI_Allreduce(source, recv, count, type, op, comm));
    }
    double stop = MPI_Wtime();
    return over_ranks(iters > 0 ? (stop - start) / iters : 0.0, comm, out);
}

/* The library this code was linked against, as MPI_Get_library_version says; its length. */
int collbench_floor_library(char *text, int capacity)
{
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0, i;
    if (MPI_Get_library_version(version, &length) != MPI_SUCCESS || capacity <= 0) {
        return -1;
    }
    for (i = 0; i < length && i < capacity - 1; i++) {
        text[i] = version[i];
    }
    text[i] = '\0';
    return i;
}
