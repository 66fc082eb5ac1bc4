"""The MPI library's own all-reduce algorithms, one at a time: what ``mpi:ALG`` forces, and how.

Every library chooses among several internal algorithms by message and communicator size. To
measure each one, collbench forces it through the library's control variables (MPI_T, see
:mod:`collectives.mpit`), within one launch:

- **MPICH** reads ``MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM`` at every call. Forcing it also takes
  the device (ch4) out of the way (``MPIR_CVAR_ALLREDUCE_DEVICE_COLLECTIVE=0``, with
  ``MPIR_CVAR_DEVICE_COLLECTIVES=percoll``), since the device's own selection would otherwise
  decide first, and has MPICH say so when an algorithm cannot take the call and it falls back to
  its own choice (``MPIR_CVAR_COLLECTIVE_FALLBACK=print``: rank 0 prints "Allreduce ALG cannot be
  applied"; ``error`` would fail rank 0 alone and leave the others waiting in the call). One call
  at construction, with MPI's standard error caught, finds that: the algorithm is then Unavailable,
  never a mislabelled row. ``ccl`` is not forced: without NCCL or RCCL in the library it falls back
  without a word. The settings hold only while the algorithm runs (:func:`in_force`), never during
  the harness's own collectives. The algorithm names are MPICH's, from the variable's description.
- **Open MPI** reads ``coll_tuned``'s forced algorithm when a communicator is made. Forcing
  sets ``coll_tuned_use_dynamic_rules`` and ``coll_tuned_allreduce_algorithm`` (and lowers
  ``coll_han_priority`` so that ``coll/han`` does not take the communicator instead),
  duplicates the communicator, and restores the variables: only that communicator is forced.
  The names are Open MPI's, from the variable's enumeration.
- **Intel MPI** takes ``I_MPI_ADJUST_ALLREDUCE`` at start-up only (a value written through
  MPI_T after ``MPI_Init`` changes nothing): one launch per preset, ``I_MPI_ADJUST_ALLREDUCE=N``
  in its environment, measures ``mpi:preset-N`` (``mpi:all`` is then that one preset), and
  ``collbench merge`` puts the launches' rows into one results directory. Its MPI_T names no
  presets; ``impi_info -v I_MPI_ADJUST_ALLREDUCE`` gives their range, 0-32 in 2021.18, where 0 is
  Intel MPI's own selection. ``mpi`` rows record such launch settings (:func:`launch_settings`):
  they are not the library's own choice.

A forced setting that the library refuses (MPI_T returns an error, or the variable does not read
back as written) makes the algorithm unavailable, with the reason: a skip, never a row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from . import mpit
from .base import Unavailable, Unsupported

MPICH_ALGORITHM = "MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM"
MPICH_COMPOSITIONS = "MPIR_CVAR_CH4_COLL_SELECTION_TUNING_JSON_FILE"  # the ch4 device's composition tuning file
MPICH_SELECTION = "MPIR_CVAR_COLL_SELECTION_TUNING_JSON_FILE"  # the MPIR level's algorithm tuning file
# The MPIR all-reduce algorithms a tuning file names without parameters (MPICH's csel_container.c reads k, tree
# types and chunk sizes for recursive_multiplying, tree, recexch and k_reduce_scatter_allgather, left at 0 if absent)
MPICH_FILE_ALGORITHMS = ("recursive_doubling", "reduce_scatter_allgather", "ring")
# The composition without an intra-node part: the MPIR-level algorithm over all ranks, as mpi:ALG measures it
MPICH_MPIR_ONLY = "composition=MPIDI_Allreduce_intra_composition_beta"
OMPI_ALGORITHM = "coll_tuned_allreduce_algorithm"
OMPI_ALLREDUCE = 2  # all-reduce's number among Open MPI's collectives in a rules file
INTEL_VARIABLE = "I_MPI_ADJUST_ALLREDUCE"
INTEL_PRESETS = range(1, 33)  # impi_info -v I_MPI_ADJUST_ALLREDUCE: "range: 0-32" (2021.18); 33 is refused
INTEL_LARGEST = 2**31 - 1  # the largest message size a condition takes; 2**32 - 1 voids the whole variable
# Environment variables that steer the library's all-reduce selection when they are set at launch
STEERING = re.compile(
    r"I_MPI_ADJUST_ALLREDUCE\w*|MPIR_CVAR_(ALLREDUCE_\w+|DEVICE_COLLECTIVES|COLL_SELECTION_TUNING_JSON_FILE"
    r"|CH4_\w*COLL_SELECTION_TUNING_JSON_FILE\w*)|OMPI_MCA_coll_\w+"
)
# MPICH's algorithms that forcing cannot measure, and why
MPICH_NOT_FORCED = {
    "ccl": "it hands the call to NCCL or RCCL and, in a library built without them, falls back to MPICH's own "
    "choice without a word, so its rows would be mislabelled",
}


@dataclass(frozen=True)
class Forcing:
    """One internal algorithm of the running library and the control variables that force it.

    ``settings`` are (variable, value, the value's name); ``when`` is "call" where the library reads
    them at every call (they are set while the algorithm runs), "communicator" where it reads them
    when a communicator is made (they are set while one is duplicated for the algorithm), or "launch"
    where it reads them at start-up only (the launch's environment set them for the whole run)."""

    library: str
    algorithm: str
    settings: tuple[tuple[str, int, str], ...]
    when: str
    refusal: str = ""  # a pattern in what the library prints when it does not run the algorithm after all

    def record(self) -> dict[str, str]:
        """The settings as rows record them: variable -> value's name."""
        return {name: shown for name, _, shown in self.settings}


def _listed(description: str) -> list[str]:
    """The value names an MPICH enumeration lists in its description ("name - what it does"), in order."""
    return re.findall(r"^\s*([A-Za-z0-9_]+)\s+-\s", description, flags=re.MULTILINE)


def _named(variable: str, value_name: str) -> tuple[str, int, str]:
    """(variable, the index of ``value_name`` in its MPICH description, the name); Unavailable without it."""
    found = mpit.cvar(variable)
    names = _listed(found.description) if found else []
    if value_name not in names:
        raise Unavailable(f"MPICH has no {variable}={value_name} to force an algorithm with")
    return variable, names.index(value_name), value_name


def _mpich() -> dict[str, Forcing]:
    found = mpit.cvar(MPICH_ALGORITHM)
    if found is None or not found.is_int:
        raise Unavailable(f"this MPICH has no integer control variable {MPICH_ALGORITHM}")
    names = _listed(found.description)
    if not names or names[0] != "auto":
        raise Unavailable(f"cannot read the algorithms from {MPICH_ALGORITHM}'s description")
    extra = (
        _named("MPIR_CVAR_DEVICE_COLLECTIVES", "percoll"),
        ("MPIR_CVAR_ALLREDUCE_DEVICE_COLLECTIVE", 0, "0"),
        _named("MPIR_CVAR_COLLECTIVE_FALLBACK", "print"),
    )
    return {
        name: Forcing("MPICH", name, ((MPICH_ALGORITHM, value, name), *extra), "call", r"\w+ \w+ cannot be applied")
        for value, name in enumerate(names)
        if name != "auto" and name not in MPICH_NOT_FORCED
    }


def _open_mpi() -> dict[str, Forcing]:
    found = mpit.cvar(OMPI_ALGORITHM)
    if found is None or not found.items:
        raise Unavailable(f"this Open MPI has no coll_tuned control variable {OMPI_ALGORITHM} to force with")
    extra = [("coll_tuned_use_dynamic_rules", 1, "true")]
    if mpit.cvar("coll_han_priority") is not None:
        extra.append(("coll_han_priority", 0, "0"))
    return {
        name: Forcing("Open MPI", name, ((OMPI_ALGORITHM, value, name), *extra), "communicator")
        for value, name in found.items
        if value != 0  # 0 is "ignore": no algorithm forced
    }


def launch_recipe(preset: int | str = "N") -> str:
    """How to measure an Intel MPI preset: one launch with it set."""
    return (
        f"Intel MPI reads {INTEL_VARIABLE} at start-up only: launch once per preset, "
        f"{INTEL_VARIABLE}={preset} mpiexec ... collbench run --algo mpi:preset-{preset} --out DIR-{preset}, "
        f"then collbench merge DIR-* --out DIR (N: {INTEL_PRESETS[0]}-{INTEL_PRESETS[-1]})"
    )


def _intel() -> dict[str, Forcing]:
    """The one preset this launch's environment forces, as ``preset-N``; Unavailable with the recipe otherwise."""
    import os

    given = os.environ.get(INTEL_VARIABLE, "").strip()
    if not given.isdigit() or int(given) not in INTEL_PRESETS:
        shown = f"this launch has {INTEL_VARIABLE}={given!r}" if given else f"this launch does not set {INTEL_VARIABLE}"
        raise Unavailable(f"{launch_recipe()}; {shown}")
    name = f"preset-{int(given)}"
    return {name: Forcing("Intel MPI", name, ((INTEL_VARIABLE, int(given), given),), "launch")}


def launch_settings() -> dict[str, str]:
    """The variables of this process's environment that steer the MPI library's all-reduce selection (set at
    launch, for example by sourcing a file from ``collbench tune``): rows of ``mpi`` record them."""
    import os

    return {name: value for name, value in sorted(os.environ.items()) if STEERING.fullmatch(name)}


@cache
def algorithms() -> dict[str, Forcing]:
    """The running library's internal all-reduce algorithms that can be forced in this launch, by name.

    Unavailable, with the reason and what to do, where the library has none that can be forced so."""
    from mpi4py import MPI

    vendor = MPI.get_vendor()[0]
    try:
        if vendor == "MPICH":
            return _mpich()
        if vendor == "Open MPI":
            return _open_mpi()
    except mpit.ToolError as exc:
        raise Unavailable(f"{vendor}'s MPI_T interface failed: {exc}") from None
    if vendor == "Intel MPI":
        return _intel()
    raise Unavailable(f"collbench knows no way to force {vendor}'s internal algorithms")


def forcing(name: str) -> Forcing:
    """The forcing of algorithm ``name``; Unsupported naming the library's algorithms when it has none by that name."""
    known = algorithms()
    if name in MPICH_NOT_FORCED and next(iter(known.values())).library == "MPICH":
        raise Unavailable(f"MPICH's {name} is not forced: {MPICH_NOT_FORCED[name]}")
    if name not in known:
        library = next(iter(known.values())).library if known else "this MPI"
        launched = re.fullmatch(r"preset-(\d+)", name)
        if library == "Intel MPI" and launched and int(launched.group(1)) in INTEL_PRESETS:
            raise Unavailable(f"{launch_recipe(launched.group(1))}; this launch set {', '.join(known)}")
        raise Unsupported(f"{library} has no all-reduce algorithm {name!r}; it has {', '.join(known)}")
    return known[name]


@contextmanager
def in_force(chosen: Forcing) -> Iterator[None]:
    """Hold ``chosen``'s settings, then put back what was there before (also on error)."""
    previous: list[tuple[mpit.Cvar, int]] = []
    if chosen.when == "launch":  # set in the environment before MPI_Init, for the whole run
        yield
        return
    try:
        for name, value, _ in chosen.settings:
            variable = mpit.cvar(name)
            if variable is None:
                raise Unavailable(f"{chosen.library} has no control variable {name}")
            previous.append((variable, variable.read()))
            variable.write(value)
        yield
    except mpit.ToolError as exc:
        raise Unavailable(f"{chosen.library} refused to force {chosen.algorithm}: {exc}") from None
    finally:
        for variable, value in reversed(previous):
            variable.write(value)


@dataclass(frozen=True)
class Tuning:
    """The library's own algorithm to force per communicator size and message size, as ``collbench tune`` writes
    it: ``rules[p]`` lists (from this many bytes on, algorithm), in order; ``rules[0]`` holds for every size."""

    library: str
    rules: dict[int, list[tuple[int, str]]]
    selection: dict[str, Any] | None = None  # MPICH: its built-in tuning files by level, to write choices into

    def choice(self, p: int, nbytes: int) -> str:
        """The algorithm for ``nbytes`` on ``p`` ranks ("" where the file leaves the library's own choice)."""
        chosen = ""
        for start, name in self.rules.get(p, self.rules.get(0, [])):
            if nbytes >= start:
                chosen = name
        return chosen


def read_tuning(path: str, names_by_id: dict[int, str] | None = None) -> Tuning:
    """The tuning in an environment file from ``collbench tune`` (and the Open MPI rules file it names).
    ``names_by_id`` names Open MPI's algorithm numbers (default: the running library's). ValueError saying
    what is wrong otherwise. A file that forces nothing (the library's own choice won) is an empty Tuning."""
    settings: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            found = re.fullmatch(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*", line.split("#")[0])
            if found:
                settings[found.group(1)] = found.group(2).strip("'\"")
    if MPICH_SELECTION in settings and MPICH_COMPOSITIONS in settings:
        return Tuning("MPICH", _read_selection(settings[MPICH_SELECTION]))
    if MPICH_ALGORITHM in settings:
        return Tuning("MPICH", {0: [(0, settings[MPICH_ALGORITHM])]})
    if INTEL_VARIABLE in settings:
        return Tuning("Intel MPI", _read_intel(settings[INTEL_VARIABLE]))
    rules_file = settings.get("OMPI_MCA_coll_tuned_dynamic_rules_filename")
    if rules_file:
        if names_by_id is None:
            variable = mpit.cvar(OMPI_ALGORITHM)
            names_by_id = dict(variable.items) if variable else {}
        return Tuning("Open MPI", _read_rules(rules_file, names_by_id))
    if settings:
        raise ValueError(f"{path} sets neither {MPICH_ALGORITHM} nor an Open MPI rules file: not from collbench tune")
    return Tuning("", {})


def running_library() -> str:
    """The running MPI library's name as collbench's tunings name it: MPICH, Open MPI, Intel MPI, or its vendor."""
    from mpi4py import MPI

    return MPI.get_vendor()[0]


def tuned_choice(path: str, p: int, nbytes: int) -> str:
    """The algorithm the tuning file at ``path`` chooses for ``nbytes`` on ``p`` ranks of the running library
    ("" for its own choice); Unsupported when the file cannot be read or was made for another library, and
    Unavailable for an Intel MPI file that this launch's environment does not hold (it is read at start-up)."""
    import os

    try:
        tuning = read_tuning(path)
    except (OSError, ValueError) as exc:
        raise Unsupported(f"mpi:tuned={path}: {exc}") from None
    library = running_library()
    if tuning.library and tuning.library != library:
        raise Unsupported(f"mpi:tuned={path} was written for {tuning.library}; this is {library}")
    if tuning.library == "Intel MPI" and os.environ.get(INTEL_VARIABLE, "") != intel_value(tuning):
        raise Unavailable(
            f"mpi:tuned={path}: Intel MPI reads {INTEL_VARIABLE} at start-up only; source the file before mpiexec"
        )
    return tuning.choice(p, nbytes)


def intel_value(tuning: Tuning) -> str:
    """``I_MPI_ADJUST_ALLREDUCE``'s value for ``tuning``: PRESET:FROM-TO@P for each range that forces a preset
    (a range left to Intel MPI's own selection has no condition: 0 is a selection of its own, not the default)."""
    parts = []
    for p, ranges in sorted(tuning.rules.items()):
        ends = [start - 1 for start, _ in ranges[1:]] + [INTEL_LARGEST]
        for (start, name), end in zip(ranges, ends, strict=True):
            if name:
                parts.append(f"{name.removeprefix('preset-')}:{start}-{end}" + (f"@{p}" if p else ""))
    return ";".join(parts)


def _read_intel(value: str) -> dict[int, list[tuple[int, str]]]:
    """The ranges of an ``I_MPI_ADJUST_ALLREDUCE`` value as :func:`intel_value` writes it."""
    found: dict[int, list[tuple[int, int, str]]] = {}
    for part in filter(None, value.split(";")):
        matched = re.fullmatch(r"(\d+)(?::(\d+)-(\d+)(?:@(\d+))?)?", part.strip())
        if not matched:
            raise ValueError(f"{INTEL_VARIABLE} part {part!r} is not PRESET:FROM-TO@P")
        preset, start, end, p = matched.groups()
        found.setdefault(int(p or 0), []).append((int(start or 0), int(end or INTEL_LARGEST), f"preset-{preset}"))
    rules: dict[int, list[tuple[int, str]]] = {}
    for p, ranges in found.items():
        out: list[tuple[int, str]] = [] if ranges and min(ranges)[0] == 0 else [(0, "")]
        for start, end, name in sorted(ranges):
            out += [(start, name)] + ([(end + 1, "")] if end < INTEL_LARGEST else [])
        rules[p] = [rule for rule, after in zip(out, out[1:] + [(-1, "")], strict=True) if rule[0] != after[0]]
    return rules


def _read_rules(path: str, names_by_id: dict[int, str]) -> dict[int, list[tuple[int, str]]]:
    """The all-reduce rules of an Open MPI ``coll_tuned`` dynamic rules file: p -> [(from bytes, algorithm)]."""
    with open(path, encoding="utf-8") as handle:
        numbers = [[int(word) for word in line.split("#")[0].split()] for line in handle]
    numbers = [line for line in numbers if line]
    position = 0

    def take() -> list[int]:
        nonlocal position
        if position >= len(numbers):
            raise ValueError(f"{path} ends early: not a coll_tuned rules file")
        position += 1
        return numbers[position - 1]

    rules: dict[int, list[tuple[int, str]]] = {}
    for _ in range(take()[0]):  # collectives
        collective = take()[0]
        for _ in range(take()[0]):  # communicator sizes
            p = take()[0]
            sizes = [take() for _ in range(take()[0])]
            if collective == OMPI_ALLREDUCE:
                unknown = [line[1] for line in sizes if line[1] not in names_by_id and line[1] != 0]
                if unknown:
                    raise ValueError(f"{path}: Open MPI has no all-reduce algorithm number {unknown[0]}")
                rules[p] = [(line[0], names_by_id[line[1]] if line[1] else "") for line in sizes]  # 0: tuned's own
    return rules


def write_tuning(tuning: Tuning, path: str, ids: dict[str, int], comments: list[str]) -> list[str]:
    """Write ``tuning`` ready to use: an environment file at ``path`` (``. path`` before mpiexec, or as a job's
    environment), and for Open MPI the rules file it names (``path`` with ``.rules``). Returns the files written.
    ``ids`` are Open MPI's numbers for its algorithms."""
    lines = [f"# {line}" if line else "#" for line in comments]
    written = [path]
    if tuning.library == "MPICH" and tuning.selection is not None:
        if any(name for ranges in tuning.rules.values() for _, name in ranges):
            for variable, level, suffix in (
                (MPICH_COMPOSITIONS, "ch4", ".ch4.json"),
                (MPICH_SELECTION, "mpir", ".mpir.json"),
            ):
                where = str(Path(path).with_suffix(suffix).resolve())
                Path(where).write_text(json.dumps(_selection(tuning, level), indent=1) + "\n", encoding="utf-8")
                written.append(where)
                lines.append(f"export {variable}={where}  # MPICH's own, with all-reduce's size ranges rewritten")
    elif tuning.library == "MPICH":
        chosen = tuning.choice(0, 0)
        if chosen:
            lines += [
                f"export {MPICH_ALGORITHM}={chosen}",
                "export MPIR_CVAR_DEVICE_COLLECTIVES=percoll",
                "export MPIR_CVAR_ALLREDUCE_DEVICE_COLLECTIVE=0  # the device's own selection would decide first",
            ]
    elif tuning.library == "Intel MPI":
        value = intel_value(tuning)
        if value:
            lines.append(f'export {INTEL_VARIABLE}="{value}"')
    elif tuning.library == "Open MPI":
        rules_path = str(Path(path).with_suffix(".rules").resolve())
        body = ["1  # collectives", f"{OMPI_ALLREDUCE}  # all-reduce", f"{len(tuning.rules)}  # communicator sizes"]
        for p, ranges in sorted(tuning.rules.items()):
            body += [f"{p}  # communicator size", f"{len(ranges)}  # message sizes"]
            body += [
                f"{start} {ids.get(name, 0)} 0 0  # from {start} B: {name or 'coll_tuned own choice'}"
                for start, name in ranges
            ]
        Path(rules_path).write_text("\n".join(body) + "\n", encoding="utf-8")
        written.append(rules_path)
        lines += [
            "export OMPI_MCA_coll_tuned_use_dynamic_rules=1",
            f"export OMPI_MCA_coll_tuned_dynamic_rules_filename={rules_path}",
            "export OMPI_MCA_coll_han_priority=0  # as measured: coll/tuned, not coll/han, runs the all-reduce",
        ]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def mpich_selection() -> dict[str, Any] | None:
    """The tuning built into the MPICH library that mpi4py loads, read from the library file: the JSON its ch4
    device reads for compositions ("ch4") and the one its MPIR level reads for algorithms ("mpir") when given no
    file. None when that library is not MPICH or holds neither."""
    try:
        data = Path(mpit.library_path()).read_bytes()
    except (OSError, mpit.ToolError):
        return None
    found: dict[str, Any] = {}
    for text in re.finditer(rb'\{"collective=[\x20-\x7e]+', data):
        level = "ch4" if b'"composition=MPIDI_Allreduce' in text.group(0) else "mpir"
        if level == "ch4" or b'"algorithm=MPIR_Allreduce_intra' in text.group(0):
            try:
                found.setdefault(level, json.loads(text.group(0)))
            except ValueError:
                return None
    return found if len(found) == 2 else None


def _selection(tuning: Tuning, level: str) -> dict[str, Any]:
    """MPICH's built-in tuning at ``level`` with all-reduce's choice per communicator and message size. Where the
    tuning forces an algorithm: at the ch4 level the composition without an intra-node part, at the MPIR level
    that algorithm over all ranks (as mpi:ALG measures it); elsewhere MPICH's own choice, unchanged. Every other
    collective stays as the library has it."""
    assert tuning.selection is not None
    built_in = tuning.selection[level]
    own = built_in["collective=allreduce"]["comm_type=intra"]

    def forced(name: str) -> dict[str, Any]:
        key = MPICH_MPIR_ONLY if level == "ch4" else f"algorithm=MPIR_Allreduce_intra_{name}"
        return {key: {}}

    def by_size(ranges: list[tuple[int, str]]) -> dict[str, Any]:
        ends = [f"avg_msg_size<={start - 1}" for start, _ in ranges[1:]] + ["avg_msg_size=any"]
        return {end: (forced(name) if name else own) for (_, name), end in zip(ranges, ends, strict=True)}

    if 0 in tuning.rules:
        tree = by_size(tuning.rules[0])
    else:
        tree = {}
        for p, ranges in sorted(tuning.rules.items()):
            tree[f"comm_size<{p}"] = own
            tree[f"comm_size<{p + 1}"] = by_size(ranges)
        tree["comm_size=any"] = own
    return {**built_in, "collective=allreduce": {**built_in["collective=allreduce"], "comm_type=intra": tree}}


def _read_selection(path: str) -> dict[int, list[tuple[int, str]]]:
    """The per-size choices of an MPIR-level tuning file that :func:`_selection` wrote."""
    with open(path, encoding="utf-8") as handle:
        tree = json.load(handle)["collective=allreduce"]["comm_type=intra"]

    def ranges(sizes: dict[str, Any]) -> list[tuple[int, str]]:
        out, start = [], 0
        for key, value in sizes.items():
            named = [k.removeprefix("algorithm=MPIR_Allreduce_intra_") for k in value if k.startswith("algorithm=")]
            out.append((start, named[0] if len(value) == 1 and named else ""))
            start = int(key.partition("<=")[2]) + 1 if "<=" in key else start
        return out

    if all(key.startswith("avg_msg_size") for key in tree):
        return {0: ranges(tree)}
    bounds = [(key, value) for key, value in tree.items() if key.startswith("comm_size<")]
    return {int(key.partition("<")[2]) - 1: ranges(sizes) for key, sizes in bounds[1::2]}  # (own, p's ranges) pairs


def describe() -> list[str]:
    """Lines for ``collbench info``: which of the running library's algorithms ``mpi:ALG`` forces, and how."""
    try:
        known = algorithms()
    except Unavailable as exc:
        return [f"none here: {exc}"]
    first = next(iter(known.values()))
    if first.when == "launch":
        return [f"{first.library}, set at launch ({first.settings[0][0]}={first.settings[0][2]}): {', '.join(known)}"]
    variables = ", ".join(
        f"{name}={shown if name != first.settings[0][0] else 'ALG'}" for name, _, shown in first.settings
    )
    when = "at every call, only while mpi:ALG runs" if first.when == "call" else "on a communicator of its own"
    lines = [f"{first.library}, through MPI_T ({variables}), {when}:", "  " + ", ".join(known)]
    if first.library == "MPICH":
        lines += [f"  not forced: {name}: {why}" for name, why in MPICH_NOT_FORCED.items()]
    return lines
