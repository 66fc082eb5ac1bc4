"""One module per subcommand, each with HELP, ``add_arguments(parser)`` and ``main(args) -> int``."""

from . import calibrate, compare, import_, info, model, overhead, report, run, tune

COMMANDS = {
    "run": run,
    "info": info,
    "overhead": overhead,
    "calibrate": calibrate,
    "model": model,
    "tune": tune,
    "report": report,
    "compare": compare,
    "import": import_,
}
