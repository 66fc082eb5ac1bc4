"""nccl-tests ``all_reduce_perf``: the text log of any version (with or without the ``root``
column; ``#wrong`` counts, ``N/A`` with ``-c 0``, or the old ``error`` column, which holds the
largest absolute difference from the expected value; the per-iteration columns of ``-I``, the
``#bitdiff`` column, timestamps, NCCL debug lines mixed in) and the JSON file of
``-J``/``--output_file`` (versions 1 to 3, as nccl-tests 2.19.6 ``src/util.cu`` writes them).

nccl-tests launches calls back to back and synchronises once: its rows are ``timing`` ``batch``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

from .base import Imported, ImportFormatError, Topology, result_row, topology_of
from .common import Line, log_lines, one_writer, parse_count, parse_number, quoted_failure, read_text

NCCL_DTYPES = {
    "float": "float32",
    "half": "float16",
    "double": "float64",
    "bfloat16": "bfloat16",
    "int8": "int8",
    "char": "int8",
    "uint8": "uint8",
    "int32": "int32",
    "int": "int32",
    "uint32": "uint32",
    "int64": "int64",
    "uint64": "uint64",
    "f8e4m3": "float8_e4m3",
    "f8e5m2": "float8_e5m2",
}
ENV_PREFIXES = ("SLURM_", "OMPI_", "PMIX_", "MPIR_", "MPICH_", "I_MPI_", "UCX_", "FI_", "NCCL_", "CUDA_VISIBLE_DEVICES")
NCCL_JSON_VERSIONS = (1, 2, 3)

RANK_LINE = re.compile(
    r"^#\s+Rank\s+(\d+)\s+(?:Group\s+(\d+)\s+)?Pid\s+(\d+)\s+on\s+(\S+)\s+device\s+(\d+)\s+\[([^\]]*)\]\s*(.*)$"
)
PARAMS_LINE = re.compile(
    r"#\s*nThread\s+(\d+)\s+nGpus\s+(\d+)\s+minBytes\s+(\d+)\s+maxBytes\s+(\d+)\s+step:\s+(\d+)\((\w+)\)\s+"
    r"warmup iters:\s+(\d+)\s+iters:\s+(\d+)(?:\s+agg iters:\s+(\d+))?(?:\s+validation:\s+(\d+))?"
    r"(?:\s+graph:\s+(\d+))?"
)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d$")


def _nccl_version(code: int | str | None) -> str:
    """NCCL_VERSION_CODE as text: 22703 -> 2.27.3 (and the pre-2.9 form 2708 -> 2.7.8)."""
    try:
        value = int(code)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(code or "")
    if value >= 10000:
        return f"{value // 10000}.{value // 100 % 100}.{value % 100}"
    return f"{value // 1000}.{value // 100 % 10}.{value % 100}"


def _half_unit(text: str) -> float:
    """Half a unit in the last digit printed: the most that rounding to ``text`` moved the value."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def _ranks_from_bandwidths(pairs: list[tuple[str, str]]) -> int | None:
    """The one rank count p with busbw = algbw x 2(p-1)/p for every printed (algbw, busbw), if one.

    Each printed pair bounds the factor 2(p-1)/p, and so p, within its rounding; the bounds of
    all pairs together usually leave one integer.
    """
    low, high = 1.0, math.inf
    for algbw_text, busbw_text in pairs:
        try:
            algbw, busbw = float(algbw_text), float(busbw_text)
            da, db = _half_unit(algbw_text), _half_unit(busbw_text)
        except ValueError:
            continue  # not a number: the row itself is refused, with its line, when it is read
        if not (math.isfinite(algbw) and math.isfinite(busbw)) or algbw - da <= 0:
            continue
        least, most = max(0.0, (busbw - db) / (algbw + da)), (busbw + db) / (algbw - da)
        low = max(low, 2 / (2 - least) if least < 2 else math.inf)
        high = min(high, 2 / (2 - most) if most < 2 else math.inf)
    if math.isinf(high) or low > high:
        return None
    candidates = range(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1)
    return candidates[0] if len(candidates) == 1 else None


class Gpus(NamedTuple):
    """The GPUs a log names: per rank, the model and ``(host, bus id, CUDA device)``.

    Old nccl-tests print one bus id (``[0x00]``) for every GPU of some machines, so the CUDA
    device index is part of what tells two GPUs apart.
    """

    names: list[str]
    places: list[tuple[str, str, str]]

    def row_fields(self) -> dict[str, Any]:
        """How many ranks shared a GPU (the most on any one), or nothing when no GPU is named."""
        if not self.places:
            return {}
        counts: dict[tuple[str, str, str], int] = {}
        for place in self.places:
            counts[place] = counts.get(place, 0) + 1
        return {"ranks_per_gpu": max(counts.values())}

    def params(self) -> dict[str, Any]:
        models = sorted(set(self.names) - {""})
        return {"gpu": "; ".join(models)} if models else {}


class _Run(NamedTuple):
    """What every row of one run shares: where its ranks ran and the GPUs they used."""

    topology: Topology
    gpus: Gpus

    def params(self) -> dict[str, Any]:
        """The params every row starts with."""
        return {"source": "nccl-tests", **self.gpus.params()}

    def metadata(
        self, library: str, version: str, config: dict[str, Any], env: dict[str, str], source: dict[str, Any]
    ) -> dict[str, Any]:
        """The results document's header fields; ``source`` names the tool, format and file, and what else the output said."""
        return {
            "mpi": {
                "library": f"NCCL {library}".strip() if library else "NCCL (version not in the log)",
                "library_version": f"NCCL {library}, measured with nccl-tests {version}".strip(),
                "vendor": "NVIDIA NCCL",
                "vendor_version": library,
            },
            "packages": {"nccl-tests": version, "nccl": library},
            **self.topology.header(),
            "env": env,
            "device": {"device": "gpu", "gpus": sorted(set(self.gpus.names))},
            "config": config,
            "source": source,
        }

    def row(
        self,
        *,
        nbytes: int,
        count: int,
        dtype: str,
        op: str,
        placement: str,
        iters: int,
        warmup: int,
        nwrong: int | None,
        time_s: float,
        algbw: float,
        busbw: float,
        params: dict[str, Any],
        samples: list[float] | None = None,
        stats: dict[str, float | None] | None = None,
    ) -> dict[str, Any]:
        """One row as nccl-tests printed it; ``dtype`` is nccl-tests' name for it."""
        return result_row(
            algo="nccl",
            topology=self.topology,
            nbytes=nbytes,
            count=count,
            dtype=NCCL_DTYPES.get(dtype, dtype),
            op=op,
            placement=placement,
            timing="batch",
            iters=iters,
            warmup=warmup,
            nwrong=nwrong,
            time_s=time_s,
            algbw=algbw,
            busbw=busbw,
            samples=samples,
            stats=stats,
            params=params,
            device="gpu",
            **self.gpus.row_fields(),
        )


def _rank_count(hosts: list[str], ranks: int | None, inferred: int | None, where: str, notes: list[str]) -> int | None:
    """The rank count: from the '# Rank' lines, --ranks or busbw/algbw (``inferred``), each checked with the others."""
    if hosts:
        if inferred is not None and inferred != len(hosts):
            raise ImportFormatError(
                f"{where}: the log lists {len(hosts)} ranks but its busbw/algbw is that of {inferred}; "
                "the '# Rank' lines may be cut short"
            )
        return ranks  # checked against the hosts with them
    if ranks is None:
        if inferred is None:
            raise ImportFormatError(
                f"{where}: the output lists no ranks ('# Rank ... on HOST' lines or devices) and its busbw/algbw "
                "does not settle how many; give --ranks P"
            )
        notes.append(f"{inferred} ranks, from busbw/algbw (the output lists no ranks and their hosts)")
        return inferred
    if inferred is not None and inferred != ranks:
        raise ImportFormatError(f"{where}: --ranks says {ranks} but the log's busbw/algbw is that of {inferred} ranks")
    return ranks


def read_nccl_tests(path: str | Path, ranks: int | None = None, nodes: int | None = None) -> Imported:
    """Rows of an nccl-tests ``all_reduce_perf`` run from its text log or its JSON output file."""
    text = read_text(path)
    if not text.lstrip().startswith("{"):
        return _read_log(path, text, ranks, nodes)
    try:
        return _read_json(path, text, ranks, nodes)
    except (TypeError, ValueError, AttributeError) as exc:  # a field of the wrong kind, deep in the file
        raise ImportFormatError(f"{path}: not nccl-tests JSON as it writes it ({exc})") from None


def _read_log(path: str | Path, text: str, ranks: int | None, nodes: int | None) -> Imported:
    where = str(path)
    hosts: list[str] = []
    gpus = Gpus([], [])
    config: dict[str, Any] = {}
    version = library = program = ""
    columns: list[str] | None = None
    data: list[Line] = []
    footer: dict[str, Any] = {}
    for line in log_lines(text):
        stripped = line.text
        if stripped.startswith("#"):
            if match := re.match(r"#\s*nccl-tests version\s+(\S+)(?:.*nccl-library=(\d+))?", stripped):
                version, library = match.group(1), _nccl_version(match.group(2)) if match.group(2) else library
            elif match := re.match(r"#\s*Collective test starting:\s*(\S+)", stripped):
                program = match.group(1)
            elif match := PARAMS_LINE.match(stripped):
                g = match.groups()
                config = {
                    "nthreads": int(g[0]),
                    "ngpus": int(g[1]),
                    "minbytes": int(g[2]),
                    "maxbytes": int(g[3]),
                    "step": f"{g[4]} ({g[5]})",
                    "warmup": int(g[6]),
                    "iters": int(g[7]),
                    "agg_iters": int(g[8] or 1),
                    "validation": int(g[9]) if g[9] is not None else None,
                    "graph": int(g[10]) if g[10] is not None else None,
                }
            elif match := RANK_LINE.match(stripped):
                hosts.append(match.group(4))
                gpus.names.append(match.group(7).strip())
                gpus.places.append((match.group(4), match.group(6), match.group(5)))
            elif match := re.match(r"#\s*Out of bounds values\s*:\s*(\d+)\s*(\w*)", stripped):
                footer["out_of_bounds"] = int(match.group(1))
            elif match := re.match(r"#\s*Avg bus bandwidth\s*:\s*(\S+)", stripped):
                footer["avg_busbw_GBps"] = match.group(1)
            else:
                tokens = stripped.lstrip("#").split()
                if tokens[:2] == ["size", "count"]:
                    columns = [name for name in tokens if name != "timestamp"]
            continue
        if match := re.match(r"NCCL version\s+(\d+\.\d+\.\d+)", stripped):
            library = library or match.group(1)
            continue
        if stripped.split()[0].isdigit():
            data.append(line)  # anything else: NCCL debug output, MPI and UCX warnings, ...
    if program and "all_reduce" not in program:
        raise ImportFormatError(f"{where}: this is nccl-tests {program}; collbench imports all_reduce_perf only")
    if columns is None:
        if not data:
            raise ImportFormatError(
                f"{where}: not an nccl-tests log (no '#  size  count  type  redop ...' header and no result lines)"
                + quoted_failure(text)
            )
        raise ImportFormatError(f"{where}: result lines but no column header ('#  size  count  type ...')")
    if not data:
        raise ImportFormatError(
            f"{where}: an nccl-tests header but no result lines; the run stopped before its first size"
            + (quoted_failure(text) or " (look for its error further up the job's output)")
        )
    one_writer(data, where, "nccl-tests")
    time_names = ("time", "cputime")
    starts = [i for i, name in enumerate(columns) if name in time_names]
    if not starts:
        raise ImportFormatError(f"{where}: the column header has no 'time' column")
    prefix = columns[: starts[0]]
    body = columns[starts[0] : starts[1]] if len(starts) > 1 else columns[starts[0] :]
    for needed in ("size", "count", "type", "redop", "algbw", "busbw"):
        if needed not in prefix + body:
            raise ImportFormatError(f"{where}: the column header has no {needed!r} column")

    # Every result line split into its leading columns and one body per placement.
    table: list[tuple[str, dict[str, str], list[tuple[str, dict[str, str]]]]] = []
    for line in data:
        at = line.at(where)
        tokens = line.text.split()
        if len(tokens) >= 2 and TIMESTAMP.match(tokens[-2]):
            tokens = tokens[:-2]
        if len(tokens) == len(prefix) + 2 * len(body):
            values = [tokens[len(prefix) : len(prefix) + len(body)], tokens[len(prefix) + len(body) :]]
            bodies = [("out", values[0]), ("in", values[1])]
        elif len(tokens) == len(prefix) + len(body):
            bodies = [("in", tokens[len(prefix) :])]
        else:
            raise ImportFormatError(
                f"{at}: {len(tokens)} fields where the header has {len(prefix)} + 2 x {len(body)}; "
                "the log may be cut off or edited"
            )
        cells = [(placement, dict(zip(body, cell, strict=True))) for placement, cell in bodies]
        table.append((at, dict(zip(prefix, tokens, strict=False)), cells))

    notes: list[str] = []
    inferred = _ranks_from_bandwidths([(c["algbw"], c["busbw"]) for _, _, cs in table for _, c in cs])
    run = _Run(topology_of(hosts, _rank_count(hosts, ranks, inferred, where, notes), nodes, where), gpus)
    if not hosts and nodes is None:
        notes.append("the log does not say how many nodes ran; 1 assumed (give --nodes N)")

    iters = config.get("iters", 0) * config.get("agg_iters", 1)
    rows = []
    for at, head, cells in table:
        nbytes, count = int(parse_number(head["size"], at)), int(parse_number(head["count"], at))
        for placement, cell in cells:
            params = run.params()
            nwrong: int | None = None
            if "#wrong" in cell and cell["#wrong"] != "N/A":
                nwrong = parse_count(cell["#wrong"], at)
                if not cell["#wrong"].isdigit():
                    params["nwrong_as_printed"] = cell["#wrong"]  # %g keeps 6 digits of a large count
            elif "error" in cell:
                # The old layout's check: the largest |result - expected| over elements and ranks, not a count.
                params["max_abs_error"] = None if cell["error"] == "N/A" else parse_number(cell["error"], at)
            if "#bitdiff" in cell:
                params["bitwise_different_bits"] = parse_count(cell["#bitdiff"], at)
            time_s = parse_number(cell[body[0]], at) * 1e-6
            stats: dict[str, float | None] = {"p50": None}
            if "i_min" in cell:
                stats.update(
                    min=parse_number(cell["i_min"], at) * 1e-6,
                    max=parse_number(cell["i_max"], at) * 1e-6,
                    p99=parse_number(cell["i_p99"], at) * 1e-6,
                    stdev=parse_number(cell["i_cv%"], at) / 100 * time_s,
                )
            rows.append(
                run.row(
                    nbytes=nbytes,
                    count=count,
                    dtype=head["type"],
                    op=head["redop"],
                    placement=placement,
                    iters=iters,
                    warmup=config.get("warmup", 0),
                    nwrong=nwrong,
                    time_s=time_s,
                    algbw=parse_number(cell["algbw"], at),
                    busbw=parse_number(cell["busbw"], at),
                    stats=stats if len(stats) > 1 else None,
                    params=params,
                )
            )
    source = {"tool": "nccl-tests", "format": "text", "file": where, **footer}
    metadata = run.metadata(library, version, config, {}, source)
    failure = "" if "out_of_bounds" in footer else quoted_failure(text)
    reason = f"nccl-tests stopped before its summary{failure}" if failure else ""
    return Imported(metadata=metadata, rows=rows, notes=notes, complete=not failure, reason=reason)


def _read_json(path: str | Path, text: str, ranks: int | None, nodes: int | None) -> Imported:
    """Rows of the ``-J`` file: a top-level object with config (and its devices), results, footer.

    Booleans are the strings ``"true"``/``"false"``, a NaN is the string ``"nan"``, ``nwrong`` is a
    number or null (no check); version 3 adds per-iteration ``skipped_iterations`` and the
    ``bitwise`` repeatability counts. A run that failed part-way still leaves valid JSON, without
    the ``out_of_bounds`` footer.
    """
    where = str(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"{where}: not valid JSON ({exc}); the file may be cut short") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ImportFormatError(f"{where}: not an nccl-tests JSON file (no 'results' list)" + quoted_failure(text))
    version = doc.get("version")
    if isinstance(version, int) and version not in NCCL_JSON_VERSIONS:
        raise ImportFormatError(
            f"{where}: nccl-tests JSON version {version}; this collbench reads versions "
            f"{NCCL_JSON_VERSIONS[0]} to {NCCL_JSON_VERSIONS[-1]} (upgrade collbench, or import the text log)"
        )
    cfg = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    devices = sorted((d for d in cfg.get("devices") or [] if isinstance(d, dict)), key=lambda d: d.get("rank", 0))
    hosts = [str(d.get("hostname", "")) for d in devices]
    gpus = Gpus(
        [str(d.get("device_info", "")) for d in devices],
        [(str(d.get("hostname", "")), str(d.get("device_hex", "")), str(d.get("device", ""))) for d in devices],
    )
    notes: list[str] = []
    pairs = [
        (str(body.get("alg_bw")), str(body.get("bus_bw")))
        for result in doc["results"]
        if isinstance(result, dict)
        for body in (result.get("out_of_place"), result.get("in_place"))
        if isinstance(body, dict)
    ]
    inferred = _ranks_from_bandwidths(pairs)
    run = _Run(topology_of(hosts, _rank_count(hosts, ranks, inferred, where, notes), nodes, where), gpus)
    config = {k: v for k, v in cfg.items() if k != "devices"}
    iters = int(cfg.get("iterations", 0)) * int(cfg.get("aggregated_iterations", 1) or 1)
    env = {}
    for item in doc.get("env") or []:
        name, _, value = str(item).partition("=")
        if name.startswith(ENV_PREFIXES):
            env[name] = value
    rows = []
    for index, result in enumerate(doc["results"]):
        at = f"{where}: results[{index}]"
        if not isinstance(result, dict):
            raise ImportFormatError(f"{at} is not an object")
        name = str(result.get("experiment_name") or "")
        if name and "all_reduce" not in name.lower() and "allreduce" not in name.lower():
            raise ImportFormatError(f"{at}: experiment {name!r} is not an all-reduce")
        try:
            nbytes, count = int(result["size"]), int(result["count"])
            dtype, op = str(result["type"]), str(result["redop"])
        except (KeyError, TypeError, ValueError):
            raise ImportFormatError(f"{at}: needs size, count, type and redop") from None
        for placement, key in (("out", "out_of_place"), ("in", "in_place")):
            body = result.get(key)
            if body is None:
                continue
            if not isinstance(body, dict):
                raise ImportFormatError(f"{at}.{key} is not an object")
            try:
                time_us = body["time"] if "time" in body else body["cpu_time"]
                time_s = parse_number(str(time_us), f"{at}.{key}.time") * 1e-6
                algbw = parse_number(str(body["alg_bw"]), f"{at}.{key}.alg_bw")
                busbw = parse_number(str(body["bus_bw"]), f"{at}.{key}.bus_bw")
            except KeyError as exc:
                raise ImportFormatError(f"{at}.{key}: no {exc.args[0]!r}") from None
            wrong = body.get("nwrong")
            params = run.params()
            bitwise = body.get("bitwise")
            if isinstance(bitwise, dict):
                params["bitwise_repeats"] = bitwise.get("repeats")
                params["bitwise_different_elements"] = bitwise.get("different_elements")
                params["bitwise_different_bits"] = bitwise.get("different_bits")
            samples = None
            per_iter = result.get(f"{key}_per_iter")
            if isinstance(per_iter, dict) and isinstance(per_iter.get("times_us"), list) and per_iter["times_us"]:
                # times_us holds every timed iteration (each the slowest process's); nccl-tests leaves the
                # first skipped_iterations out of its summary, and so do the samples here.
                skipped = int(per_iter.get("skipped_iterations") or 0)
                times = per_iter["times_us"][skipped:] or per_iter["times_us"]
                samples = [parse_number(str(t), f"{at}.{key}_per_iter.times_us") * 1e-6 for t in times]
                if skipped:
                    params["skipped_iterations"] = skipped
            rows.append(
                run.row(
                    nbytes=nbytes,
                    count=count,
                    dtype=dtype,
                    op=op,
                    placement=placement,
                    iters=int(result.get("actual_iterations") or iters),
                    warmup=int(cfg.get("warmup_iters", 0)),
                    nwrong=None if wrong is None or wrong == "N/A" else parse_count(str(wrong), f"{at}.{key}.nwrong"),
                    time_s=time_s,
                    algbw=algbw,
                    busbw=busbw,
                    samples=samples,
                    params=params,
                )
            )
    if not rows:
        raise ImportFormatError(f"{where}: nccl-tests JSON without results; the run stopped before its first size")
    library = _nccl_version(doc.get("nccl_version"))
    extra = {"command": doc.get("args"), "start_time": doc.get("start_time"), "end_time": doc.get("end_time")}
    for key in ("out_of_bounds", "bitwise_mismatches", "average_bus_bandwidth"):
        if isinstance(doc.get(key), dict):
            extra[key] = doc[key]
    errors = [str(e) for e in doc.get("errors") or [] if str(e)]
    if errors:
        extra["errors"] = errors
    form = "json" if version is None else f"json v{version}"
    source = {"tool": "nccl-tests", "format": form, "file": where, **extra}
    metadata = run.metadata(library, "", config, env, source)
    complete = "out_of_bounds" in doc
    reason = "" if complete else "nccl-tests stopped before its summary" + (f": {errors[0]}" if errors else "")
    return Imported(metadata=metadata, rows=rows, notes=notes, complete=complete, reason=reason)
