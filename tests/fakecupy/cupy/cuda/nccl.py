"""A fake ``cupy.cuda.nccl``: NCCL's API over MPI, its operations queued on the stream like kernels.

``NcclCommunicator(ndev, uid, rank)`` finds its peers through files named after the unique id
(ranks on one host only), then builds an MPI communicator of them with
``MPI_Comm_create_group``. Each ``allReduce``, ``send`` and ``recv`` is queued on the stream it
is given and runs, as MPI calls, when that stream is synchronised; between ``groupStart`` and
``groupEnd`` the point-to-point calls form one queued operation whose sends and receives all
progress at once (nonblocking MPI), as in a grouped NCCL launch. A receive whose size differs
from the matching send's raises, as NCCL's would hang or fail. Two ranks on one GPU are refused
("Duplicate GPU", ncclInvalidUsage) unless ``NCCL_MULTI_RANK_GPU_ENABLE=1`` with a version of at
least 2.30, as in NCCL.
"""

from __future__ import annotations

import ctypes
import os
import socket
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from . import Device, runtime, stream_of

NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = 0, 1, 2, 3, 4, 5
NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64, NCCL_BFLOAT16 = 6, 7, 8, 9
NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN, NCCL_AVG = 0, 1, 2, 3, 4
_DTYPES = {0: np.int8, 1: np.uint8, 2: np.int32, 3: np.uint32, 4: np.int64, 5: np.uint64, 6: np.float16}
_DTYPES.update({7: np.float32, 8: np.float64})
try:
    import ml_dtypes

    _DTYPES[NCCL_BFLOAT16] = ml_dtypes.bfloat16
except ImportError:
    pass
_INVALID_USAGE = 5

available = os.environ.get("FAKE_NCCL_MISSING") != "1"


class NcclError(RuntimeError):
    def __init__(self, status: int, message: str = ""):
        super().__init__(f"NCCL error {status}: {message}")
        self.status = status


def get_version() -> int:
    return int(os.environ.get("FAKE_NCCL_VERSION", "23004"))


def get_unique_id() -> bytes:
    return os.urandom(128)


_group: list[list[Any]] = []  # open groups: the point-to-point calls made inside them


def groupStart() -> None:  # noqa: N802  (NCCL's names)
    _group.append([])


def groupEnd() -> None:  # noqa: N802
    calls = _group.pop()
    if _group:  # nested: the outermost group launches
        _group[-1].extend(calls)
        return
    if calls:
        comm, stream = calls[0][0], calls[0][-1]
        stream_of(stream).enqueue(lambda: comm._exchange(calls))


def _view(ptr: int, count: int, datatype: int) -> np.ndarray:
    dtype = np.dtype(_DTYPES[datatype])
    if count == 0:
        return np.empty(0, dtype)
    return np.ctypeslib.as_array((ctypes.c_uint8 * (count * dtype.itemsize)).from_address(ptr)).view(dtype)


class NcclCommunicator:
    """``ndev`` ranks that called with the same ``uid``, as an MPI communicator underneath."""

    def __init__(self, ndev: int, uid: Any, rank: int):
        from mpi4py import MPI

        if not isinstance(uid, bytes) or len(uid) != 128:  # CuPy 14 takes the unique id as 128 bytes
            raise ValueError(f"commId must be 128 bytes, got {type(uid).__name__} of length {len(uid)}")
        key = zlib.crc32(uid)
        here = (MPI.COMM_WORLD.Get_rank(), socket.gethostname(), runtime.deviceGetPCIBusId(Device().id))
        folder = Path(os.environ.get("FAKE_NCCL_DIR", tempfile.gettempdir()))
        mine = folder / f"fakenccl-{key:08x}-{rank}"
        mine.write_text(" ".join(map(str, here)))
        members = [folder / f"fakenccl-{key:08x}-{r}" for r in range(ndev)]
        deadline = time.monotonic() + 60
        while not all(m.exists() and m.read_text() for m in members):
            if time.monotonic() > deadline:
                raise NcclError(2, "fake NCCL: peers never arrived")  # ncclSystemError
            time.sleep(0.005)
        peers = [m.read_text().split() for m in members]
        group = MPI.COMM_WORLD.Get_group().Incl([int(p[0]) for p in peers])
        self._comm = MPI.COMM_WORLD.Create_group(group, tag=key % 32768)
        group.Free()
        self._comm.Barrier()
        mine.unlink()
        gpus = [(p[1], p[2]) for p in peers]
        if len(set(gpus)) < len(gpus):
            allowed = get_version() >= 23000 and os.environ.get("NCCL_MULTI_RANK_GPU_ENABLE") == "1"
            if not allowed:
                self._comm.Free()
                raise NcclError(_INVALID_USAGE, "Duplicate GPU detected")
        self.rank_id, self.size = rank, ndev
        self._alive = True

    # -- collectives -------------------------------------------------------------------
    def allReduce(self, sendbuf: int, recvbuf: int, count: int, datatype: int, op: int, stream: int) -> None:  # noqa: N802
        from mpi4py import MPI

        send, recv = _view(sendbuf, count, datatype), _view(recvbuf, count, datatype)
        mpi_op = {NCCL_SUM: MPI.SUM, NCCL_PROD: MPI.PROD, NCCL_MAX: MPI.MAX, NCCL_MIN: MPI.MIN, NCCL_AVG: MPI.SUM}[op]
        in_place, comm, size = sendbuf == recvbuf, self._comm, self.size

        def run() -> None:
            if datatype == NCCL_BFLOAT16:  # MPI has no bfloat16: gather everyone's and reduce here, in float32
                everyone = np.stack(comm.allgather(send.astype(np.float32)))
                reduce = {NCCL_PROD: np.prod, NCCL_MAX: np.max, NCCL_MIN: np.min}.get(op, np.sum)
                recv[...] = reduce(everyone, axis=0) / (size if op == NCCL_AVG else 1)
                return
            comm.Allreduce(MPI.IN_PLACE if in_place else send, recv, op=mpi_op)
            if op == NCCL_AVG:
                np.divide(recv, size, out=recv, casting="unsafe")

        stream_of(stream).enqueue(run)

    def send(self, sendbuf: int, count: int, datatype: int, peer: int, stream: int) -> None:
        self._point(("send", sendbuf, count, datatype, peer), stream)

    def recv(self, recvbuf: int, count: int, datatype: int, peer: int, stream: int) -> None:
        self._point(("recv", recvbuf, count, datatype, peer), stream)

    def _point(self, call: tuple[Any, ...], stream: int) -> None:
        entry = [self, *call, stream]
        if _group:
            _group[-1].append(entry)
        else:
            stream_of(stream).enqueue(lambda: self._exchange([entry]))

    def _exchange(self, calls: list[list[Any]]) -> None:
        """Every send and receive of one group at once; raises when a receive's size does not match."""
        from mpi4py import MPI

        requests, receives = [], []
        for comm, kind, ptr, count, datatype, peer, _ in calls:
            if comm is not self:
                raise NcclError(_INVALID_USAGE, "fake NCCL: one group spans two communicators")
            buffer = _view(ptr, count, datatype)
            if kind == "send":
                requests.append(self._comm.Isend(buffer, peer, 0))
            else:
                requests.append(self._comm.Irecv(buffer, peer, 0))
                receives.append((len(requests) - 1, buffer.nbytes, peer))
        statuses = [MPI.Status() for _ in requests]
        try:
            MPI.Request.Waitall(requests, statuses)
        except MPI.Exception as exc:  # a message longer than its receive: NCCL pairs calls by order, not tag
            raise NcclError(_INVALID_USAGE, f"fake NCCL: a send and a receive did not match ({exc})") from None
        for index, nbytes, peer in receives:
            got = statuses[index].Get_count(MPI.BYTE)
            if got != nbytes:
                raise NcclError(_INVALID_USAGE, f"fake NCCL: received {got} B from rank {peer} into {nbytes} B")

    # -- lifetime -------------------------------------------------------------------------
    def destroy(self) -> None:
        if self._alive:
            self._alive = False
            self._comm.Free()

    def abort(self) -> None:
        self.destroy()
