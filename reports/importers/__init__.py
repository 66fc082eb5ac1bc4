"""Importing other tools' all-reduce results as the rows of a collbench results document.

    imported = IMPORTERS["osu"]("osu_allreduce.txt", ranks=64, nodes=8)
    imported.metadata, imported.rows, imported.notes    # a results document's header, rows, remarks

One module per tool, each with a header saying which formats and versions it reads:
``nccl_tests`` (``all_reduce_perf`` text logs and ``-J`` JSON), ``osu`` (``osu_allreduce``) and
``imb`` (IMB-MPI1 ``Allreduce``). They share ``common``, the parsing (reading the file,
stripping launcher prefixes, splitting result lines, numbers as printed), and ``base``, what an
importer returns (``Imported``, ``ImportFormatError``) and the collbench row a measurement
becomes. A new tool is a module with a ``read_TOOL(path, ...) -> Imported`` function, registered
in ``IMPORTERS`` below.

Each tool's loop is one of collbench's ``--timing`` modes; each module says which.

Lines may carry the prefixes launchers add (``mpirun --tag-output`` ``[1,0]<stdout>:``,
``srun --label`` ``0: ``, ``mpirun --timestamp-output``, ISO 8601 timestamps); they are
stripped. Where a tool reports only an average per size, ``samples_s`` holds that one value and
the row's params say ``"samples": "average only"``. The text is parsed, never executed.
"""

from __future__ import annotations

from .base import Imported, ImportFormatError
from .imb import read_imb
from .nccl_tests import read_nccl_tests
from .osu import read_osu

__all__ = ["IMPORTERS", "ImportFormatError", "Imported", "read_imb", "read_nccl_tests", "read_osu"]

IMPORTERS = {"nccl-tests": read_nccl_tests, "osu": read_osu, "imb": read_imb}
