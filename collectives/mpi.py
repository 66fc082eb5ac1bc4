"""``mpi``: the MPI library's own ``MPI_Allreduce``, the baseline every algorithm is held to.

Whatever the library chooses internally (MPICH picks recursive doubling, Rabenseifner or a
ring by size; Open MPI's coll/tuned its own table) runs unchanged: one call, in place through
``MPI_IN_PLACE`` when the send and receive buffers are the same array.

On host buffers the bound call hands MPI buffers described once, at bind time (``[MPI.buffer,
datatype]``), so each call skips NumPy's buffer export: about 0.2 µs less per call than passing the
arrays themselves, which matters where the whole call takes 1-3 µs.

``mpi:ALG`` (the option ``algorithm``) forces one of the library's own algorithms instead
(:mod:`collectives.mpiforce`): through a communicator of its own where the library reads the
setting when a communicator is made (Open MPI), or with the setting held around its calls
(:meth:`MPIAllreduce.running`) where the library reads it at every call (MPICH). One call at
construction, under the setting, finds an algorithm that the library refuses for this count, dtype,
op or communicator: that is Unavailable, with the library's reason, and never a row.

On device buffers the transport decides how MPI sees them (with ``nccl-p2p``, the MPI path
beside it: MPI never goes through NCCL): with a CUDA-aware MPI the device arrays go straight
to ``MPI_Allreduce`` after the stream is synchronised; otherwise they are staged through
pinned host buffers allocated here, once (copy out, host all-reduce, copy in, each waited for).
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np

from . import mpiforce
from .base import Allreduce, Unavailable, Unsupported, register


@register("mpi")
class MPIAllreduce(Allreduce):
    """The MPI library's native Allreduce."""

    description = "MPI library's MPI_Allreduce"
    baseline = True
    options = {"algorithm": ""}  # one of the library's own, forced ("": the library chooses)
    variant_option = "algorithm"

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        from mpi4py import MPI
        from mpi4py.util import dtlib

        chosen = self.settings["algorithm"]
        self.tuned = chosen.partition("=")[2] if chosen.startswith("tuned=") else ""
        self.tuned_choice = ""  # what a tuning file chose at this size, forced now or (Intel MPI) at launch
        if self.tuned:
            chosen = self.tuned_choice = mpiforce.tuned_choice(self.tuned, self.size, self.count * self.dtype.itemsize)
            if mpiforce.running_library() == "Intel MPI":
                chosen = ""  # the launch's environment holds the file (tuned_choice checked): nothing to force now
        self.forcing = mpiforce.forcing(chosen) if chosen else None
        self._own_comm = None

        try:
            datatype = dtlib.from_numpy_dtype(self.dtype)
        except (KeyError, ValueError, TypeError) as exc:
            raise Unsupported(f"this MPI library has no datatype for {self.dtype_name}: {exc}") from None
        if datatype == MPI.DATATYPE_NULL:
            raise Unsupported(f"this MPI library has no datatype for {self.dtype_name}")
        if self.forcing is not None and self.forcing.when == "communicator":
            with mpiforce.in_force(self.forcing):
                self._own_comm = comm = comm.Dup()
        self._allreduce = comm.Allreduce
        self._buffer = MPI.buffer
        self._datatype = MPI._typedict.get(self.dtype.char)  # the predefined type mpi4py would infer
        self._in_place = MPI.IN_PLACE
        self._mpi_op = self.op.mpi()
        spec = self.transport_spec.for_mpi()
        self._host: tuple[Any, Any] | None = None
        if spec.staged:
            empty = spec.xp.empty(self.count, dtype=self.dtype)
            self._host = (spec.host_buffer(empty), spec.host_buffer(empty))
        if self.forcing is not None and self.forcing.refusal:
            refused = comm.allreduce(self._refusal(), op=MPI.MAX)  # rank 0 alone may hear it: all agree
            if refused:
                self.close()
                raise Unavailable(
                    f"{self.forcing.library} does not run its {self.forcing.algorithm} for {self.count} "
                    f"{self.dtype_name} {self.op.name} on {self.size} ranks (it said: {refused})"
                )

    def _refusal(self) -> str:
        """One call under the forced setting, with the process's standard error caught: what the library said
        when it fell back to another algorithm, or ""."""
        given = self.xp.zeros(self.count, dtype=self.dtype)
        with capture_stderr() as said:
            self.run(given, self.xp.empty_like(given))
        found = re.search(self.forcing.refusal, "".join(said))  # type: ignore[union-attr]
        return found.group(0) if found else ""

    def params(self) -> dict[str, Any]:
        tuned = {"tuned": self.tuned, "algorithm": self.tuned_choice or "(the library's own)"} if self.tuned else {}
        if self.forcing is None:
            launch = mpiforce.launch_settings()  # a sourced tuning file, say: then not the library's own choice
            return {**tuned, "launch": launch} if launch else tuned
        forcing = self.forcing
        number = forcing.settings[0][1]  # the algorithm's value: Open MPI's rules files name algorithms by it
        return {
            **tuned,
            "algorithm": forcing.algorithm,
            "id": number,
            "library": forcing.library,
            "forced": forcing.record(),
        }

    def running(self) -> AbstractContextManager[Any]:
        if self.forcing is not None and self.forcing.when == "call":
            return mpiforce.in_force(self.forcing)
        return nullcontext()

    def close(self) -> None:
        if self._own_comm is not None:
            self._own_comm.Free()
            self._own_comm = None

    def bound(self, sendbuf: Any, recvbuf: Any) -> Callable[[], Any]:
        spec = self.transport_spec.for_mpi()
        in_place = sendbuf is recvbuf
        if self._host is not None:
            host_send, host_recv = self._host
            source = self._in_place if in_place else host_send
            staged_input = recvbuf if in_place else sendbuf
            target = host_recv

            def staged() -> None:
                spec.to_host(staged_input, host_recv if in_place else host_send)
                self._allreduce(source, target, self._mpi_op)
                spec.to_device(host_recv, recvbuf)

            return staged
        source = self._in_place if in_place else self._message(sendbuf)
        call = functools.partial(self._allreduce, source, self._message(recvbuf), self._mpi_op)
        if spec.kind == "device-direct":
            sync = spec.sync

            def synced() -> None:
                sync()
                call()

            return synced
        return call

    def _message(self, array: Any) -> Any:
        """A host array as a ready ``[buffer, datatype]`` message; any other array (a device's) as it is."""
        if isinstance(array, np.ndarray) and self._datatype is not None and array.flags.c_contiguous:
            return [self._buffer(array), self._datatype]
        return array

    def run(self, sendbuf: Any, recvbuf: Any) -> None:
        with self.running():
            self.bound(sendbuf, recvbuf)()


@contextmanager
def capture_stderr() -> Iterator[list[str]]:
    """Catch what this process writes to file descriptor 2 (the MPI library's C code included) while held; the
    list it gives holds that text once it is over."""
    sys.stderr.flush()
    said: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as caught:
        try:
            os.dup2(caught.fileno(), 2)
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            said.append(caught.read())
