"""One module per subcommand, each with HELP, ``add_arguments(parser)`` and ``main(args) -> int``."""

from . import info, overhead, run

COMMANDS = {"run": run, "info": info, "overhead": overhead}
