"""Importing other tools' all-reduce results as collbench result rows (schema version 1).

- nccl-tests ``all_reduce_perf``: the text log (any version: with or without the ``root``
  column, ``#wrong`` counts or ``N/A`` with ``-c 0``, the old ``error`` column, the
  per-iteration columns of ``-R``/``--report_iter_stats``, timestamps, NCCL debug lines mixed in)
  and the JSON file of ``-J``/``--output_file`` (version 2; per-iteration times when recorded).
- OSU ``osu_allreduce``: the text output, with or without ``# Datatype:``, with the ``-f``
  full-statistics columns (min, max, iterations) and the ``-c`` validation column.

Where a tool reports only an average per size, ``samples_s`` holds that one value and the
row's params say ``"samples": "average only"``. The text is parsed, never executed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
OSU_DTYPES = {
    "MPI_CHAR": ("int8", 1),
    "MPI_INT": ("int32", 4),
    "MPI_FLOAT": ("float32", 4),
    "MPI_DOUBLE": ("float64", 8),
}
ENV_PREFIXES = ("SLURM_", "OMPI_", "PMIX_", "MPIR_", "MPICH_", "I_MPI_", "UCX_", "FI_", "NCCL_", "CUDA_VISIBLE_DEVICES")
MAX_BYTES = 512 * 1024 * 1024


class ImportFormatError(Exception):
    """The input is not output of the expected tool; the message says what was wrong and where."""


@dataclass
class Imported:
    """What an importer read: header fields of a results document, its rows and skips."""

    metadata: dict[str, Any]
    rows: list[dict[str, Any]]
    skips: list[dict[str, Any]] = field(default_factory=list)


def _read_text(path: str | Path) -> str:
    where = Path(path)
    try:
        if where.stat().st_size > MAX_BYTES:
            raise ImportFormatError(f"{where}: larger than {MAX_BYTES >> 20} MiB; not a benchmark log")
        data = where.read_bytes()
    except OSError as exc:
        raise ImportFormatError(f"{where}: cannot read: {exc.strerror}") from None
    if b"\x00" in data:
        raise ImportFormatError(f"{where}: a binary file, not a text log or JSON")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _busbw_factor(p: int) -> float:
    return 2.0 * (p - 1) / p if p > 1 else 0.0


def _stats(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples, dtype=float)
    return {
        "min": float(values.min()),
        "p50": float(np.median(values)),
        "mean": float(values.mean()),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
        "stdev": float(values.std()),
    }


def _topology(hosts: list[str], ranks: int | None, nodes: int | None, where: str) -> tuple[int, int, int, list[str]]:
    """(p, nodes, ranks_per_node, hosts) from the per-rank hosts a log lists, or from the options."""
    if hosts:
        if ranks is not None and ranks != len(hosts):
            raise ImportFormatError(f"{where}: the log lists {len(hosts)} ranks but --ranks says {ranks}")
        counts: dict[str, int] = {}
        for host in hosts:
            counts[host] = counts.get(host, 0) + 1
        per = set(counts.values())
        return len(hosts), len(counts), per.pop() if len(per) == 1 else 0, hosts
    if ranks is None:
        raise ImportFormatError(f"{where}: the output does not say how many ranks ran; give --ranks P")
    nodes = nodes or 1
    return ranks, nodes, ranks // nodes if ranks % nodes == 0 else 0, []


def _row(
    *,
    algo: str,
    topology: tuple[int, int, int, list[str]],
    nbytes: int,
    count: int,
    dtype: str,
    op: str,
    placement: str,
    timing: str,
    iters: int,
    warmup: int,
    nwrong: int | None,
    time_s: float,
    algbw: float | None,
    busbw: float | None,
    samples: list[float] | None,
    stats: dict[str, float | None] | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    p, nodes, rpn, _ = topology
    factor = _busbw_factor(p)
    if algbw is None:
        algbw = nbytes / time_s / 1e9 if time_s > 0 else 0.0
    if busbw is None:
        busbw = algbw * factor
    if samples:
        params = {**params, "samples": "per-iteration"}
        row_stats: dict[str, float | None] = _stats(samples)
    else:
        samples = [time_s]
        params = {**params, "samples": "average only"}
        row_stats = {"min": time_s, "p50": time_s, "mean": time_s, "p99": time_s, "max": time_s, "stdev": 0.0}
    if stats:
        row_stats.update(stats)
    return {
        "algo": algo,
        "p": p,
        "nodes": nodes,
        "ranks_per_node": rpn,
        "layout": "physical",
        "rank_order": "packed",
        "mesh": "",
        "bytes": nbytes,
        "count": count,
        "dtype": dtype,
        "op": op,
        "placement": placement,
        "timing": timing,
        "iters": iters,
        "warmup": warmup,
        "nwrong": nwrong,
        "busbw_factor": factor,
        "time_s": time_s,
        "algbw_GBps": algbw,
        "busbw_GBps": busbw,
        "stats": row_stats,
        "params": params,
        "samples_s": samples,
    }


def _nccl_version(code: int | str | None) -> str:
    """NCCL_VERSION_CODE as text: 22703 -> 2.27.3 (and the pre-2.9 form 2708 -> 2.7.8)."""
    try:
        value = int(code)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(code or "")
    if value >= 10000:
        return f"{value // 10000}.{value // 100 % 100}.{value % 100}"
    return f"{value // 1000}.{value // 100 % 10}.{value % 100}"


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ImportFormatError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ImportFormatError(f"{where}: {text!r} is not a finite number")
    return value


# ----------------------------------------------------------------------------- nccl-tests
RANK_LINE = re.compile(
    r"^#\s+Rank\s+(\d+)\s+(?:Group\s+(\d+)\s+)?Pid\s+(\d+)\s+on\s+(\S+)\s+device\s+(\d+)\s+\[([^\]]*)\]\s*(.*)$"
)
PARAMS_LINE = re.compile(
    r"#\s*nThread\s+(\d+)\s+nGpus\s+(\d+)\s+minBytes\s+(\d+)\s+maxBytes\s+(\d+)\s+step:\s+(\d+)\((\w+)\)\s+"
    r"warmup iters:\s+(\d+)\s+iters:\s+(\d+)(?:\s+agg iters:\s+(\d+))?(?:\s+validation:\s+(\d+))?"
    r"(?:\s+graph:\s+(\d+))?"
)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d$")


def read_nccl_tests(path: str | Path, ranks: int | None = None, nodes: int | None = None) -> Imported:
    """Rows of an nccl-tests ``all_reduce_perf`` run from its text log or its JSON output file."""
    text = _read_text(path)
    if text.lstrip().startswith("{"):
        return _nccl_json(path, text, ranks, nodes)
    return _nccl_text(path, text, ranks, nodes)


def _nccl_text(path: str | Path, text: str, ranks: int | None, nodes: int | None) -> Imported:
    where = str(path)
    hosts: list[str] = []
    gpus: list[str] = []
    config: dict[str, Any] = {}
    version = library = program = ""
    columns: list[str] | None = None
    data: list[tuple[int, list[str]]] = []
    footer: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
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
                gpus.append(match.group(7).strip())
            elif match := re.match(r"#\s*Out of bounds values\s*:\s*(\d+)\s*(\w*)", stripped):
                footer["out_of_bounds"] = int(match.group(1))
            elif match := re.match(r"#\s*Avg bus bandwidth\s*:\s*(\S+)", stripped):
                footer["avg_busbw_GBps"] = match.group(1)
            else:
                tokens = stripped.lstrip("#").split()
                if tokens[:2] == ["size", "count"]:
                    columns = tokens
            continue
        if match := re.match(r"NCCL version\s+(\d+\.\d+\.\d+)", stripped):
            library = library or match.group(1)
            continue
        tokens = stripped.split()
        if not tokens[0].isdigit():
            continue  # NCCL debug output, MPI warnings, ...
        data.append((number, tokens))
    if program and "all_reduce" not in program:
        raise ImportFormatError(f"{where}: this is nccl-tests {program}; collbench imports all_reduce_perf only")
    if columns is None:
        if not data:
            raise ImportFormatError(
                f"{where}: not an nccl-tests log (no '#  size  count  type  redop ...' header and no result lines)"
            )
        raise ImportFormatError(f"{where}: result lines but no column header ('#  size  count  type ...')")
    if not data:
        raise ImportFormatError(f"{where}: an nccl-tests header but no result lines (did the run fail?)")
    time_names = ("time", "cputime")
    starts = [i for i, name in enumerate(columns) if name in time_names]
    if not starts:
        raise ImportFormatError(f"{where}: the column header has no 'time' column")
    prefix = columns[: starts[0]]
    body = columns[starts[0] : starts[1]] if len(starts) > 1 else columns[starts[0] :]
    for needed in ("size", "count", "type", "redop"):
        if needed not in prefix:
            raise ImportFormatError(f"{where}: the column header has no {needed!r} column")
    topology = _topology(hosts, ranks, nodes, where)
    iters = config.get("iters", 0) * config.get("agg_iters", 1)
    rows = []
    for number, tokens in data:
        at = f"{where}:{number}"
        if len(tokens) >= 2 and TIMESTAMP.match(tokens[-2]):
            tokens = tokens[:-2]
        if len(tokens) == len(prefix) + 2 * len(body):
            bodies = [("out", tokens[len(prefix) : len(prefix) + len(body)]), ("in", tokens[len(prefix) + len(body) :])]
        elif len(tokens) == len(prefix) + len(body):
            bodies = [("in", tokens[len(prefix) :])]
        else:
            raise ImportFormatError(
                f"{at}: {len(tokens)} fields where the header has {len(prefix)} + 2 x {len(body)}; "
                "the log may be cut off or edited"
            )
        head = dict(zip(prefix, tokens, strict=False))
        nbytes, count = int(_number(head["size"], at)), int(_number(head["count"], at))
        dtype = NCCL_DTYPES.get(head["type"], head["type"])
        for placement, values in bodies:
            cell = dict(zip(body, values, strict=True))
            time_s = _number(cell[body[0]], at) * 1e-6
            params: dict[str, Any] = {"source": "nccl-tests"}
            nwrong: int | None = None
            if "#wrong" in cell:
                nwrong = None if cell["#wrong"] == "N/A" else int(_number(cell["#wrong"], at))
            elif "error" in cell:
                params["max_error"] = cell["error"]
            stats: dict[str, float | None] = {"p50": None}
            if "i_min" in cell:
                mean = time_s
                stats.update(
                    min=_number(cell["i_min"], at) * 1e-6,
                    max=_number(cell["i_max"], at) * 1e-6,
                    p99=_number(cell["i_p99"], at) * 1e-6,
                    stdev=_number(cell["i_cv%"], at) / 100 * mean,
                )
            rows.append(
                _row(
                    algo="nccl",
                    topology=topology,
                    nbytes=nbytes,
                    count=count,
                    dtype=dtype,
                    op=head["redop"],
                    placement=placement,
                    timing="b2b",
                    iters=iters,
                    warmup=config.get("warmup", 0),
                    nwrong=nwrong,
                    time_s=time_s,
                    algbw=_number(cell["algbw"], at),
                    busbw=_number(cell["busbw"], at),
                    samples=None,
                    stats=stats if len(stats) > 1 else None,
                    params=params,
                )
            )
    metadata = _nccl_metadata(where, "text", version, library, topology, gpus, config, {}, footer)
    return Imported(metadata=metadata, rows=rows)


def _nccl_metadata(
    where: str,
    form: str,
    version: str,
    library: str,
    topology: tuple[int, int, int, list[str]],
    gpus: list[str],
    config: dict[str, Any],
    env: dict[str, str],
    extra: dict[str, Any],
) -> dict[str, Any]:
    p, nodes, rpn, hosts = topology
    return {
        "mpi": {
            "library": f"NCCL {library}".strip() if library else "NCCL (version not in the log)",
            "library_version": f"NCCL {library}, measured with nccl-tests {version}".strip(),
            "vendor": "NVIDIA NCCL",
            "vendor_version": library,
        },
        "packages": {"nccl-tests": version, "nccl": library},
        "nranks": p,
        "hosts": hosts,
        "nodes": nodes,
        "ranks_per_node": rpn,
        "env": env,
        "device": {"device": "gpu", "gpus": sorted(set(gpus))},
        "config": config,
        "source": {"tool": "nccl-tests", "format": form, "file": where, **extra},
    }


def _nccl_json(path: str | Path, text: str, ranks: int | None, nodes: int | None) -> Imported:
    where = str(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFormatError(f"{where}: not valid JSON ({exc}); the file may be cut short") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise ImportFormatError(f"{where}: not an nccl-tests JSON file (no 'results' list)")
    cfg = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    devices = [d for d in cfg.get("devices") or [] if isinstance(d, dict)]
    hosts = [str(d.get("hostname", "")) for d in sorted(devices, key=lambda d: d.get("rank", 0))]
    gpus = [str(d.get("device_info", "")) for d in devices]
    topology = _topology(hosts, ranks, nodes, where)
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
                time_s = _number(str(time_us), at) * 1e-6
                algbw, busbw = _number(str(body["alg_bw"]), at), _number(str(body["bus_bw"]), at)
            except KeyError as exc:
                raise ImportFormatError(f"{at}.{key}: no {exc.args[0]!r}") from None
            wrong = body.get("nwrong")
            per_iter = result.get(f"{key}_per_iter")
            samples = None
            if isinstance(per_iter, dict) and isinstance(per_iter.get("times_us"), list) and per_iter["times_us"]:
                samples = [_number(str(t), at) * 1e-6 for t in per_iter["times_us"]]
            rows.append(
                _row(
                    algo="nccl",
                    topology=topology,
                    nbytes=nbytes,
                    count=count,
                    dtype=NCCL_DTYPES.get(dtype, dtype),
                    op=op,
                    placement=placement,
                    timing="b2b",
                    iters=int(result.get("actual_iterations") or iters),
                    warmup=int(cfg.get("warmup_iters", 0)),
                    nwrong=None if wrong is None or wrong == "N/A" else int(float(wrong)),
                    time_s=time_s,
                    algbw=algbw,
                    busbw=busbw,
                    samples=samples,
                    stats=None,
                    params={"source": "nccl-tests"},
                )
            )
    if not rows:
        raise ImportFormatError(f"{where}: nccl-tests JSON without results (did the run fail?)")
    library = _nccl_version(doc.get("nccl_version"))
    extra = {"command": doc.get("args"), "start_time": doc.get("start_time"), "end_time": doc.get("end_time")}
    metadata = _nccl_metadata(where, "json", str(doc.get("version", "")), library, topology, gpus, config, env, extra)
    return Imported(metadata=metadata, rows=rows)


# ----------------------------------------------------------------------------- OSU
OSU_TITLE = re.compile(r"^#\s*OSU MPI(?:-(\w+))?\s+(.+?)\s+Test(?:\s+v(\S+))?\s*$")
OSU_COLUMNS = {
    "Size": "size",
    "Avg Latency(us)": "avg",
    "Min Latency(us)": "min",
    "Max Latency(us)": "max",
    "Iterations": "iters",
    "Validation": "validation",
    "P50 Tail Lat(us)": "p50",
    "P90 Tail Lat(us)": "p90",
    "P99 Tail Lat(us)": "p99",
}


def read_osu(path: str | Path, ranks: int | None = None, nodes: int | None = None) -> Imported:
    """Rows of an OSU ``osu_allreduce`` run from its text output (``-f`` and ``-c`` columns included).

    OSU does not print the rank count, so ``ranks`` is required.
    """
    where = str(path)
    text = _read_text(path)
    title = device = version = ""
    dtype, elem = "float32", 4
    columns: list[str] | None = None
    data: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if match := OSU_TITLE.match(stripped):
                device, title, version = (match.group(1) or "").lower(), match.group(2), match.group(3) or ""
            elif match := re.match(r"#\s*Datatype:\s*(\w+)", stripped):
                if match.group(1) not in OSU_DTYPES:
                    raise ImportFormatError(f"{where}:{number}: unknown OSU datatype {match.group(1)!r}")
                dtype, elem = OSU_DTYPES[match.group(1)]
            elif stripped.lstrip("# ").startswith("Size"):
                names = re.split(r"\s{2,}", stripped.lstrip("#").strip())
                unknown = [n for n in names if n not in OSU_COLUMNS]
                if unknown:
                    raise ImportFormatError(f"{where}:{number}: unknown OSU column(s) {', '.join(unknown)}")
                columns = [OSU_COLUMNS[n] for n in names]
            continue
        tokens = stripped.split()
        if tokens[0].isdigit():
            data.append((number, tokens))
    if not title:
        raise ImportFormatError(f"{where}: not OSU benchmark output (no '# OSU MPI ... Latency Test' line)")
    if title != "Allreduce Latency":
        raise ImportFormatError(f"{where}: this is the OSU {title} test; collbench imports osu_allreduce only")
    if columns is None or "avg" not in columns:
        raise ImportFormatError(f"{where}: no '# Size  Avg Latency(us)' column header")
    if not data:
        raise ImportFormatError(f"{where}: an OSU header but no result lines (did the run fail?)")
    topology = _topology([], ranks, nodes, where)
    rows = []
    for number, tokens in data:
        at = f"{where}:{number}"
        if len(tokens) != len(columns):
            raise ImportFormatError(f"{at}: {len(tokens)} fields where the header has {len(columns)}")
        cell = dict(zip(columns, tokens, strict=True))
        nbytes = int(_number(cell["size"], at))
        time_s = _number(cell["avg"], at) * 1e-6
        params: dict[str, Any] = {"source": "osu", "osu_version": version}
        if device:
            params["device"] = device
        for key in ("min", "max"):
            if key in cell:
                params[f"{key}_rank_average_us"] = _number(cell[key], at)
        nwrong = None
        if "validation" in cell:
            params["validation"] = cell["validation"]
            nwrong = 0 if cell["validation"].lower() == "pass" else 1
        stats = {k: _number(cell[k], at) * 1e-6 for k in ("p50", "p99") if k in cell}
        rows.append(
            _row(
                algo="osu-mpi",
                topology=topology,
                nbytes=nbytes,
                count=nbytes // elem,
                dtype=dtype,
                op="sum",
                placement="out",
                timing="barrier",
                iters=int(_number(cell["iters"], at)) if "iters" in cell else 0,
                warmup=0,
                nwrong=nwrong,
                time_s=time_s,
                algbw=None,
                busbw=None,
                samples=None,
                stats=stats or None,
                params=params,
            )
        )
    p, n, rpn, hosts = topology
    metadata = {
        "mpi": {"library": "(as run by OSU; not in its output)", "library_version": ""},
        "packages": {"osu-micro-benchmarks": version},
        "nranks": p,
        "hosts": hosts,
        "nodes": n,
        "ranks_per_node": rpn,
        "env": {},
        "device": {"device": device or "cpu"},
        "config": {"dtype": dtype, "sizes": [r["bytes"] for r in rows]},
        "source": {"tool": "osu", "format": "text", "file": where, "test": f"OSU MPI {title} Test v{version}"},
    }
    return Imported(metadata=metadata, rows=rows)


IMPORTERS = {"nccl-tests": read_nccl_tests, "osu": read_osu}
