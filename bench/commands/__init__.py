"""One module per subcommand, each with HELP, ``add_arguments(parser)`` and ``main(args) -> int``."""

from . import calibrate, info, model, overhead, run, tune

COMMANDS = {"run": run, "info": info, "overhead": overhead, "calibrate": calibrate, "model": model, "tune": tune}
