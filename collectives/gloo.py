"""``gloo``: PyTorch's Gloo all-reduce (``torch.distributed`` with the gloo backend), a CPU baseline.

The process group is initialised once per process from the MPI rank and size: rank 0 picks a
free TCP port on its host and broadcasts host and port over MPI; every rank then joins with
``tcp://host:port``. Tensors are zero-copy views of the NumPy buffers (``torch.from_numpy``),
so Gloo reduces the benchmark's own memory. Gloo's all-reduce works in place; out of place is
a copy into the receive buffer followed by the in-place call, and the parameters say so.
"""

from __future__ import annotations

import socket
from typing import Any

from .base import Allreduce, Unavailable, register

_TORCH_OPS = {"sum": "SUM", "prod": "PRODUCT", "min": "MIN", "max": "MAX"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def ensure_process_group(comm: Any) -> Any:
    """The gloo default process group over COMM_WORLD's ranks, created on first use."""
    import torch.distributed as dist
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    if not dist.is_initialized():
        address = (socket.gethostname(), _free_port()) if world.Get_rank() == 0 else None
        host, port = world.bcast(address, root=0)
        dist.init_process_group(
            "gloo", init_method=f"tcp://{host}:{port}", rank=world.Get_rank(), world_size=world.Get_size()
        )
    if comm.Get_size() == world.Get_size():
        return None  # the default group
    raise Unavailable("gloo runs on the whole job only (one process group per process); drop --ranks for gloo")


@register("gloo")
class GlooAllreduce(Allreduce):
    """torch.distributed all_reduce on the gloo backend."""

    description = "PyTorch Gloo all_reduce (torch.distributed), CPU buffers only"
    baseline = True
    own_transport = "gloo"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            import torch.distributed as dist
        except ImportError as exc:
            return f"PyTorch is not installed ({exc}); pip install 'collbench[torch]'"
        if not dist.is_available() or not dist.is_gloo_available():
            return "this PyTorch build has no gloo backend"
        return None

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        if self.xp.__name__ != "numpy":
            raise Unavailable("gloo runs on CPU buffers only; use --device cpu")
        import torch.distributed as dist

        self._group = ensure_process_group(comm)
        self._op = getattr(dist.ReduceOp, _TORCH_OPS[op])
        self._all_reduce = dist.all_reduce

    def params(self) -> dict[str, Any]:
        import torch

        return {"torch": torch.__version__, "out_of_place": "copy + in-place all_reduce"}

    def bound(self, sendbuf: Any, recvbuf: Any):
        import torch

        tensor = torch.from_numpy(recvbuf)
        all_reduce, op, group = self._all_reduce, self._op, self._group
        if sendbuf is recvbuf:

            def in_place() -> None:
                all_reduce(tensor, op=op, group=group)

            return in_place

        def out_of_place() -> None:
            recvbuf[...] = sendbuf
            all_reduce(tensor, op=op, group=group)

        return out_of_place

    def run(self, sendbuf: Any, recvbuf: Any) -> None:
        self.bound(sendbuf, recvbuf)()
