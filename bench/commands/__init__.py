"""One module per subcommand, each with HELP, ``add_arguments(parser)`` and ``main(args) -> int``."""

from . import calibrate, compare, floor, import_, info, merge, model, report, run, tune

COMMANDS = {
    "run": run,
    "info": info,
    "floor": floor,
    "calibrate": calibrate,
    "model": model,
    "tune": tune,
    "report": report,
    "compare": compare,
    "import": import_,
    "merge": merge,
}
