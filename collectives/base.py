"""The interface every all-reduce implements, and the registry that names them.

An algorithm is a class registered under a name. Its constructor does all the setup (peers,
schedules, scratch buffers, persistent requests) for one communicator, element count, dtype
and op; calling the instance performs one all-reduce and does nothing else. The class also
carries the metadata the harness needs: which dtypes and ops it supports, its bus-bandwidth
factor, and whether it can run on this machine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

import numpy as np

from .transport import TransportSpec
from .types import ALL_DTYPES, ALL_OPS, DTYPES, OPTIONAL_DTYPES, Op, dtype_of, op_of


class CollectiveError(Exception):
    """An algorithm cannot be built as asked; the message says why and what would work."""


class Unsupported(CollectiveError):
    """The algorithm does not implement the requested dtype, op or option."""


class Unavailable(CollectiveError):
    """The algorithm cannot run here (a library, a device or a feature is missing)."""


def dtype_name(dtype: Any) -> str:
    """The name collbench gives ``dtype``, which may be that name ("float32"), a NumPy type (``np.float32``) or
    an ``np.dtype``; ValueError naming what was given and what is accepted otherwise."""
    if isinstance(dtype, str):
        if dtype in DTYPES:
            return dtype
        if dtype in OPTIONAL_DTYPES:
            dtype_of(dtype)  # "dtype bfloat16 needs ml_dtypes" where that is missing
    try:
        given = np.dtype(dtype) if dtype is not None else None  # np.dtype(None) would be float64
    except (TypeError, ValueError):
        given = None
    if given is not None:  # (an np.dtype compares equal to None, as float64)
        for name, known in DTYPES.items():
            if given == known:
                return name
    raise ValueError(
        f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}, by name, as a NumPy type (np.float32) "
        "or as an np.dtype in native byte order"
    )


class Allreduce:
    """Base class of every all-reduce: set up once in ``__init__``, run with ``__call__``.

    Subclasses set ``name`` (through :func:`register`), may narrow ``dtypes`` and ``ops``,
    declare the keyword ``options`` they accept with their defaults, and implement ``run``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    dtypes: ClassVar[frozenset[str]] = ALL_DTYPES
    ops: ClassVar[frozenset[str]] = ALL_OPS
    options: ClassVar[dict[str, Any]] = {}
    baseline: ClassVar[bool] = False  # a library's all-reduce rather than one written here
    # how a baseline moves data when it is not through MPI ("nccl", "gloo"): the transport its rows record
    own_transport: ClassVar[str] = ""
    # the option that "NAME:VARIANT" sets to VARIANT (mpi:ring forces MPI's own ring); "" when none
    variant_option: ClassVar[str] = ""

    @staticmethod
    def busbw_factor(p: int) -> float:
        """Bus-bandwidth factor for ``p`` ranks: 2(p-1)/p, as nccl-tests uses for all-reduce.

        Every rank must send and receive (p-1)/p of the data twice (once reducing, once
        gathering), so busbw = algbw * 2(p-1)/p is comparable across rank counts and with
        the link's own bandwidth.
        """
        return 2.0 * (p - 1) / p if p > 0 else 0.0

    @classmethod
    def cost(cls, model: Any, p: int, nbytes: int, dtype: str, params: dict[str, Any]) -> float | None:
        """Predicted seconds for one all-reduce of ``nbytes`` on ``p`` ranks with these ``params``
        under a :class:`collectives.costmodel.CostModel`; None where there is no model (a library's own).
        """
        return None

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this algorithm cannot run on this machine, or None when it can."""
        return None

    def __init__(
        self,
        comm: Any,
        count: int,
        dtype: Any,
        op: str,
        *,
        xp: Any = np,
        transport: TransportSpec | None = None,
        **options: Any,
    ):
        self.comm = comm
        self.rank: int = comm.Get_rank()
        self.size: int = comm.Get_size()
        self.count = int(count)
        self.dtype_name = dtype_name(dtype)
        self.dtype: np.dtype = DTYPES[self.dtype_name]
        self.op: Op = op_of(op)
        self.xp = xp
        self.transport_spec = transport or TransportSpec(xp=xp)
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            accepted = ", ".join(sorted(self.options)) or "none"
            raise Unsupported(f"{self.name}: unknown option {unknown[0]!r}; accepted options: {accepted}")
        self.settings: dict[str, Any] = {**self.options, **options}

    def params(self) -> dict[str, Any]:
        """The parameters this instance runs with, recorded beside every measurement."""
        return dict(self.settings)

    def bind(self, sendbuf: Any, recvbuf: Any) -> None:
        """Prepare everything that depends on the buffers themselves; later calls with them are the hot path.

        Calling with other buffers binds again on the fly, so this is an optimisation, never a requirement.
        """

    def bound(self, sendbuf: Any, recvbuf: Any) -> Callable[[], Any]:
        """Bind to these buffers and return a call with no arguments that performs one all-reduce on them.

        The harness times this call: it skips the per-call checks of ``alg(sendbuf, recvbuf)``.
        """
        self.bind(sendbuf, recvbuf)
        return functools.partial(self.run, sendbuf, recvbuf)

    def running(self) -> AbstractContextManager[Any]:
        """What must hold around this algorithm's calls and only those (not the caller's own collectives): a
        forced MPI setting that the library reads at each call. The harness holds it around the calls it times;
        ``alg(sendbuf, recvbuf)`` holds it by itself. Nothing for most algorithms."""
        return nullcontext()

    def close(self) -> None:
        """Release communicators, persistent requests and scratch space (collective: every rank calls it)."""

    def __call__(self, sendbuf: Any, recvbuf: Any) -> None:
        """All-reduce ``sendbuf`` into ``recvbuf`` on every rank; the same array twice means in place."""
        self.run(sendbuf, recvbuf)

    def run(self, sendbuf: Any, recvbuf: Any) -> None:
        raise NotImplementedError


_REGISTRY: dict[str, type[Allreduce]] = {}


def register(name: str):
    """Class decorator: register an :class:`Allreduce` subclass under ``name``."""

    def decorate(cls: type[Allreduce]) -> type[Allreduce]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"an algorithm named {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def names() -> list[str]:
    """Names of every registered algorithm: the hand-written ones, then the baselines, each by name."""
    return sorted(_REGISTRY, key=lambda name: (_REGISTRY[name].baseline, name))


def get(name: str) -> type[Allreduce]:
    """The class registered as ``name`` (or as NAME of "NAME:VARIANT"); Unsupported naming the registered ones
    otherwise."""
    base, colon, variant = name.partition(":")
    try:
        cls = _REGISTRY[base]
    except KeyError:
        raise Unsupported(f"unknown algorithm {base!r}; registered: {', '.join(_REGISTRY)}") from None
    if colon and not (variant and cls.variant_option):
        with_variants = [n for n, c in _REGISTRY.items() if c.variant_option]
        raise Unsupported(f"{name!r}: NAME:VARIANT is for {', '.join(with_variants) or 'no algorithm here'}")
    return cls


def check_support(name: str, dtype: Any, op: str) -> None:
    """Raise Unsupported or Unavailable when ``name`` cannot run ``dtype``/``op`` here (ValueError for a dtype or
    op collbench does not know); ``dtype`` is a name, a NumPy type or an ``np.dtype``."""
    cls = get(name)
    dtype = dtype_name(dtype)
    op_of(op)
    if dtype not in cls.dtypes:
        raise Unsupported(f"{name} does not support dtype {dtype}; it supports {', '.join(sorted(cls.dtypes))}")
    if op not in cls.ops:
        raise Unsupported(f"{name} does not support op {op}; it supports {', '.join(sorted(cls.ops))}")
    reason = cls.unavailable_reason()
    if reason:
        raise Unavailable(f"{name} cannot run here: {reason}")


def create(name: str, comm: Any, count: int, dtype: Any, op: str, **options: Any) -> Allreduce:
    """Build algorithm ``name`` for ``count`` elements of ``dtype`` reduced with ``op`` on ``comm``.

    ``dtype`` is a name ("float32"), a NumPy type (``np.float32``) or an ``np.dtype``; the algorithm sees its
    name. All setup happens here; the returned object performs one all-reduce per call:
    ``alg(sendbuf, recvbuf)``, or ``alg(buf, buf)`` in place.
    """
    dtype = dtype_name(dtype)
    check_support(name, dtype, op)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    cls = get(name)
    if ":" in name:
        options[cls.variant_option] = name.partition(":")[2]
    return cls(comm, count, dtype, op, **options)
