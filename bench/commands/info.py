"""Show the MPI library and its thread level, ranks, hosts, ranks per node, packages and registered algorithms."""

from __future__ import annotations

import argparse

import collectives
from collectives import mpiforce, ncclcomm

from ..buffers import transparent_huge_pages
from ..device import detect_cuda_aware
from ..environment import describe
from ..heartbeat import rank_spans
from ..mpienv import thread_level
from ..options import add_mpi_options

HELP = "show the MPI library, the job's layout, packages and algorithms"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_mpi_options(parser)


def main(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    meta = describe(comm)
    if comm.Get_rank() != 0:
        return 0
    mpi = meta["mpi"]
    print(
        f"MPI library:    {mpi['library']} (MPI standard {mpi['standard']}, vendor {mpi['vendor']} {mpi['vendor_version']})"
    )
    threads = thread_level()
    print(f"thread level:   {threads['provided']} provided ({threads['requested']} requested: {threads['reason']})")
    print(f"huge pages:     transparent huge pages {transparent_huge_pages()} (kernel policy)")
    print(f"ranks:          {meta['nranks']}")
    print(
        f"nodes:          {meta['nodes']} (physical: the ranks' host names; run --ranks-per-node K groups them logically)"
    )
    print(f"ranks per node: {meta['ranks_per_node']}")
    hosts: dict[str, list[int]] = {}
    for rank, host in enumerate(meta["hosts"]):
        hosts.setdefault(host, []).append(rank)
    for host, ranks in hosts.items():
        print(f"  host {host}: ranks {rank_spans(ranks)}")
    print("packages:       " + ", ".join(f"{k} {v}" for k, v in meta["packages"].items()))
    print("algorithms:")
    for name in collectives.names():
        cls = collectives.get(name)
        reason = cls.unavailable_reason()
        state = f"unavailable: {reason}" if reason else "available"
        print(f"  {name:<8} {cls.description} [{state}]")
    print("the MPI library's own all-reduce algorithms (--algo mpi:ALG, or mpi:all for each):")
    for line in mpiforce.describe():
        print(f"  {line}")
    aware, how = detect_cuda_aware()
    nccl = ncclcomm.unavailable_reason()
    print("GPU transports (--device gpu):")
    print(
        f"  mpi      {'device-direct: the MPI is CUDA-aware' if aware else 'staged through pinned host memory: the MPI is not CUDA-aware'} ({how})"
    )
    print(f"  nccl-p2p NCCL send/receive on the stream [{f'unavailable: {nccl}' if nccl else 'available'}]")
    if meta["env"]:
        print("environment:")
        for key, value in meta["env"].items():
            print(f"  {key}={value}")
    return 0
