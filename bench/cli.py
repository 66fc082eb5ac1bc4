"""The ``collbench`` command: one module per subcommand in :mod:`bench.commands`."""

from __future__ import annotations

import os
import sys
import time
import traceback

from . import __version__
from .commands import COMMANDS
from .errors import UsageError
from .mpienv import abort, is_root, request_thread_level
from .options import Parser

OPEN_MPI_GRACE = 10.0  # seconds a rank other than 0 waits, under Open MPI, for rank 0 to report a bad input


def build_parser() -> Parser:
    parser = Parser(
        prog="collbench", description="All-reduce benchmarks over MPI: hand-written algorithms against the baselines."
    )
    parser.add_argument("--version", action="version", version=f"collbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, module in COMMANDS.items():
        command = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(handler=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; its exit status (2 for bad input, after a one-line message)."""
    import collectives

    parser = build_parser()
    try:
        collectives.load_plugins()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        if hasattr(args, "thread_level"):  # a command that starts MPI: before anything imports mpi4py.MPI
            request_thread_level(args.thread_level)
        return args.handler(args)
    except (UsageError, collectives.CollectiveError) as exc:
        if is_root():
            print(f"collbench: error: {exc}", file=sys.stderr, flush=True)
        elif "OMPI_COMM_WORLD_RANK" in os.environ and not _mpi_running():
            # Open MPI's mpirun ends the job at the first rank that exits non-zero: one that beat rank 0 there
            # would cut rank 0 off before its line is out. Rank 0's exit ends this wait (bounded, should it not).
            # Once MPI runs, MPI_Finalize holds every rank until rank 0 has said it.
            time.sleep(OPEN_MPI_GRACE)
        return 2


def _mpi_running() -> bool:
    mpi = sys.modules.get("mpi4py.MPI")
    return mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized()


def entry() -> None:
    """Console-script entry point: any unexpected failure ends every rank instead of hanging them."""
    try:
        code = main()
    except KeyboardInterrupt:
        code = 130
    except Exception:
        traceback.print_exc()
        abort(1)
        code = 1
    sys.exit(code)
