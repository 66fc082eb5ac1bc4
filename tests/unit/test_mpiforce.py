"""Forcing the MPI library's own algorithms: names, the --algo syntax and tuning files, without MPI running."""

from __future__ import annotations

import pytest

import collectives
from bench.commands.run import parse_algorithms
from bench.errors import UsageError
from collectives.mpiforce import Tuning, _listed, read_tuning, write_tuning

MPICH_DESCRIPTION = """Variable to select allreduce algorithm
auto - Internal algorithm selection (can be overridden with MPIR_CVAR_COLL_SELECTION_TUNING_JSON_FILE)
nb                       - Force nonblocking algorithm
recursive_doubling       - Force recursive doubling algorithm
ring                     - Force ring algorithm
k_reduce_scatter_allgather - Force reduce scatter allgather algorithm"""


def test_mpich_values_are_read_in_order_from_the_description():
    assert _listed(MPICH_DESCRIPTION) == ["auto", "nb", "recursive_doubling", "ring", "k_reduce_scatter_allgather"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mpi,mpi:all", ["mpi", "mpi:all"]),
        ("ring, mpi:ring ,ring", ["ring", "mpi:ring"]),
        ("mpi:tuned=/tmp/a.env", ["mpi:tuned=/tmp/a.env"]),
    ],
)
def test_algo_lists_with_the_librarys_own(text, expected):
    assert parse_algorithms(text) == expected


@pytest.mark.parametrize(
    "text, said",
    [
        ("ring:fast", "only mpi takes :ALG"),
        ("mpi:", "only mpi takes :ALG"),
        ("bogus", "unknown algorithm 'bogus'"),
        (",", "empty"),
    ],
)
def test_bad_algo_lists_say_what_to_do(text, said):
    with pytest.raises(UsageError, match=said):
        parse_algorithms(text)


def test_a_variant_names_the_class_that_takes_it():
    assert collectives.get("mpi:ring") is collectives.get("mpi")
    with pytest.raises(collectives.Unsupported, match="NAME:VARIANT is for mpi"):
        collectives.get("ring:x")


def test_an_mpich_tuning_file_round_trips(tmp_path):
    path = str(tmp_path / "tuned.env")
    written = write_tuning(Tuning("MPICH", {0: [(0, "reduce_scatter_allgather")]}), path, {}, ["made by a test"])
    assert written == [path]
    text = open(path).read()
    assert "export MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM=reduce_scatter_allgather" in text and "# made by a test" in text
    tuning = read_tuning(path)
    assert tuning.library == "MPICH" and tuning.choice(4, 1 << 20) == "reduce_scatter_allgather"


def test_an_open_mpi_tuning_file_round_trips(tmp_path):
    rules = {2: [(0, "recursive_doubling"), (65536, "ring")], 4: [(0, ""), (1 << 20, "rabenseifner")]}
    ids = {"recursive_doubling": 3, "ring": 4, "rabenseifner": 6}
    path = str(tmp_path / "tuned.env")
    written = write_tuning(Tuning("Open MPI", rules), path, ids, [])
    assert written == [path, str(tmp_path / "tuned.rules")]
    assert "export OMPI_MCA_coll_tuned_use_dynamic_rules=1" in open(path).read()
    tuning = read_tuning(path, {number: name for name, number in ids.items()})
    assert tuning == Tuning("Open MPI", rules)
    assert [tuning.choice(2, n) for n in (8, 65535, 65536)] == ["recursive_doubling", "recursive_doubling", "ring"]
    assert [tuning.choice(4, n) for n in (8, 1 << 20)] == ["", "rabenseifner"]
    assert tuning.choice(8, 8) == ""  # a communicator size the file does not name: the library's own choice


def test_a_file_that_forces_nothing_leaves_the_librarys_choice(tmp_path):
    path = tmp_path / "tuned.env"
    write_tuning(Tuning("MPICH", {}), str(path), {}, ["the default was best everywhere"])
    assert read_tuning(str(path)).choice(2, 8) == ""


def test_a_file_from_elsewhere_is_refused(tmp_path):
    path = tmp_path / "other.env"
    path.write_text("export FOO=1\n")
    with pytest.raises(ValueError, match="not from collbench tune"):
        read_tuning(str(path))


def _rows(times: dict[str, list[float]], library: str, sizes=(8, 1024, 1 << 20)):
    import json

    import pandas as pd

    rows = []
    for algo, seconds in times.items():
        name = algo.partition(":")[2]
        params = json.dumps({"algorithm": name, "id": len(name), "library": library} if name else {})
        rows += [
            {"algo": algo, "p": 2, "bytes": b, "time_s": t, "params": params}
            for b, t in zip(sizes, seconds, strict=True)
        ]
    return pd.DataFrame(rows)


def test_open_mpi_tuning_forces_per_size_only_what_clearly_wins(tmp_path):
    from argparse import Namespace

    from bench.commands.tune import _write_measured, measured_tuning

    rows = _rows(
        {"mpi": [1.0, 1.0, 1.0], "mpi:ring": [2.0, 0.97, 0.5], "mpi:rabenseifner": [0.5, 1.5, 0.8]}, "Open MPI"
    )
    measured = measured_tuning(rows)
    out = _write_measured(measured, Namespace(out=str(tmp_path / "t.env"), results=[str(tmp_path)]))
    # 8 B: rabenseifner (2x); 1 KiB: ring is 3% faster, below the margin: Open MPI's own; 1 MiB: ring (2x)
    assert [(r["force"], r["gain"]) for r in out["table"]] == [("rabenseifner", 2.0), ("", 1.0), ("ring", 2.0)]
    tuning = read_tuning(out["files"][0], {len("ring"): "ring", len("rabenseifner"): "rabenseifner"})
    assert [tuning.choice(2, n) for n in (0, 8, 1024, 1 << 20)] == ["rabenseifner", "rabenseifner", "", "ring"]


def test_mpich_tuning_is_one_algorithm_nowhere_much_slower_without_a_composition_file(tmp_path, monkeypatch):
    from argparse import Namespace

    from bench.commands import tune
    from bench.commands.tune import _write_measured, measured_tuning

    monkeypatch.setattr(tune, "mpich_selection", lambda: None)  # an MPICH whose built-in tuning is not found
    # ring is 2x faster at two sizes but 20% slower at one; rsag gains less and is nowhere >10% slower
    rows = _rows({"mpi": [1.0, 1.0, 1.0], "mpi:ring": [1.2, 0.5, 0.5], "mpi:rsag": [1.05, 0.8, 0.8]}, "MPICH")
    out = _write_measured(measured_tuning(rows), Namespace(out=str(tmp_path / "t.env"), results=[str(tmp_path)]))
    assert {r["force"] for r in out["table"]} == {"rsag"}
    assert read_tuning(out["files"][0]).choice(2, 8) == "rsag"


def test_a_forced_algorithm_must_win_in_every_placement(tmp_path):
    from argparse import Namespace

    import pandas as pd

    from bench.commands.tune import _write_measured, measured_tuning

    # basic_linear is 2x faster out of place and 2x slower in place at 64 MiB (as measured under Open MPI):
    # the rules file holds for both, so Open MPI keeps its own choice; ring wins in both, by 1.5x at worst
    out_of_place = _rows(
        {"mpi": [1.0, 1.0], "mpi:basic_linear": [0.5, 0.5], "mpi:ring": [0.6, 0.6]}, "Open MPI", (8, 64)
    )
    in_place = _rows({"mpi": [1.0, 1.0], "mpi:basic_linear": [2.0, 2.0], "mpi:ring": [2.0, 0.5]}, "Open MPI", (8, 64))
    rows = pd.concat([out_of_place.assign(placement="out"), in_place.assign(placement="in")], ignore_index=True)
    out = _write_measured(measured_tuning(rows), Namespace(out=str(tmp_path / "t.env"), results=[str(tmp_path)]))
    assert [(r["force"], round(r["gain"], 2)) for r in out["table"]] == [("", 1.0), ("ring", 1.67)]


def test_the_median_over_runs_decides_not_the_luckiest_run():
    import pandas as pd

    from bench.commands.tune import _per_size_choice, measured_tuning

    # three runs: ring was once 2x faster (a quiet moment), twice as fast as the library's choice
    runs = [_rows({"mpi": [1.0], "mpi:ring": [t]}, "MPICH", (8,)) for t in (0.5, 1.0, 1.02)]
    measured = measured_tuning(pd.concat(runs, ignore_index=True))
    assert _per_size_choice(measured.times[2][8]) == ""


def test_tuned_against_default_reports_the_gain_where_the_file_forces(capsys):
    import json

    import pandas as pd

    from bench.commands.tune import tuned_against_default

    def row(algo, nbytes, placement, seconds, algorithm=""):
        params = json.dumps({"tuned": "t.env", "algorithm": algorithm}) if algo == "mpi:tuned" else "{}"
        pair = {"run_start": "t0", "p": 2, "bytes": nbytes, "placement": placement, "dtype": "float32", "op": "sum"}
        return {**pair, "algo": algo, "time_s": seconds, "params": params}

    rows = pd.DataFrame(
        [row("mpi", n, pl, 1.0) for n in (8, 1024) for pl in ("out", "in")]
        + [row("mpi:tuned", 8, pl, 1.05, "(the library's own)") for pl in ("out", "in")]
        + [row("mpi:tuned", 1024, "out", 0.5, "ring"), row("mpi:tuned", 1024, "in", 0.8, "ring")]
    )
    # the median of the two placements' ratios: 8 B 1/1.05 both; 1 KiB 2.0 and 1.25
    table = tuned_against_default(rows)
    assert [(t["bytes"], t["forced"], round(t["gain"], 2)) for t in table] == [(8, "", 0.95), (1024, "ring", 1.62)]
    said = capsys.readouterr().out
    assert "median gain where the file forces an algorithm: 1.62x" in said
    assert "slowest size: 8 B on 2 ranks, 0.95x" in said


def test_an_intel_tuning_round_trips_as_conditions_per_size_and_p(tmp_path):
    from collectives.mpiforce import INTEL_LARGEST, intel_value

    rules = {
        2: [(0, ""), (64, "preset-8"), (512, "preset-1"), (32768, ""), (1 << 20, "preset-8")],
        4: [(0, "preset-2")],
    }
    path = str(tmp_path / "tuned.env")
    write_tuning(Tuning("Intel MPI", rules), path, {}, ["made by a test"])
    text = open(path).read()
    # Intel MPI's own selection keeps the sizes no condition names (its preset 0 is a selection of its own)
    expected = f"8:64-511@2;1:512-32767@2;8:1048576-{INTEL_LARGEST}@2;2:0-{INTEL_LARGEST}@4"
    assert f'export I_MPI_ADJUST_ALLREDUCE="{expected}"' in text
    tuning = read_tuning(path)
    assert tuning.library == "Intel MPI" and intel_value(tuning) == expected
    for p, sizes in ((2, (0, 8, 64, 511, 512, 32767, 32768, 1 << 20, 1 << 30)), (4, (0, 1 << 30)), (3, (8,))):
        assert [tuning.choice(p, n) for n in sizes] == [Tuning("", rules).choice(p, n) for n in sizes]


def test_an_intel_value_collbench_did_not_write_is_refused(tmp_path):
    path = tmp_path / "tuned.env"
    path.write_text('export I_MPI_ADJUST_ALLREDUCE="2:0-1024@2-8"\n')
    with pytest.raises(ValueError, match="not PRESET:FROM-TO@P"):
        read_tuning(str(path))


@pytest.mark.parametrize("given", ["", "0", "33", "2:0-1023"])
def test_intel_forces_one_preset_per_launch_and_says_how(monkeypatch, given):
    from collectives.mpiforce import _intel

    monkeypatch.setenv("I_MPI_ADJUST_ALLREDUCE", given)
    with pytest.raises(collectives.Unavailable, match="at start-up only: launch once per preset"):
        _intel()
    monkeypatch.setenv("I_MPI_ADJUST_ALLREDUCE", "7")
    (name, forcing), *others = _intel().items()
    assert (name, forcing.when, forcing.record(), others) == ("preset-7", "launch", {"I_MPI_ADJUST_ALLREDUCE": "7"}, [])


def test_mpi_rows_record_what_the_launch_set_for_the_librarys_selection(monkeypatch):
    from collectives.mpiforce import launch_settings

    for name in (
        "I_MPI_ADJUST_ALLREDUCE",
        "MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM",
        "OMPI_MCA_coll_tuned_use_dynamic_rules",
    ):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("MPIR_CVAR_ENABLE_HEAVY_YIELD", "1")  # not all-reduce's selection
    monkeypatch.setenv("I_MPI_ADJUST_BCAST", "1")
    assert set(launch_settings()) == {
        "I_MPI_ADJUST_ALLREDUCE",
        "MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM",
        "OMPI_MCA_coll_tuned_use_dynamic_rules",
    }


def test_mpi_rows_a_launch_steered_are_not_the_librarys_own_choice():
    import json

    import pandas as pd

    from bench.commands.tune import measured_tuning

    rows = _rows({"mpi": [1.0], "mpi:preset-2": [0.5]}, "Intel MPI", (8,))
    steered = rows[rows["algo"] == "mpi"].assign(
        time_s=0.1, params=json.dumps({"launch": {"I_MPI_ADJUST_ALLREDUCE": "2"}})
    )
    measured = measured_tuning(pd.concat([rows, steered], ignore_index=True))
    assert measured.times[2][8]["out"] == {"": 1.0, "preset-2": 0.5}


# MPICH's built-in tuning files, as the library holds them: at the ch4 level all-reduce on one node goes to shared
# memory (gamma), across nodes through node leaders; at the MPIR level an algorithm by size; the other collectives are
# whatever the library says, kept as they are.
OWN_CH4 = {
    "comm_size=node_comm_size": {"composition=MPIDI_Allreduce_intra_composition_gamma": {}},
    "comm_size=any": {"composition=MPIDI_Allreduce_intra_composition_alpha": {}},
}
OWN_MPIR = {
    "avg_msg_size<=8": {"algorithm=MPIR_Allreduce_intra_recursive_doubling": {}},
    "avg_msg_size=any": {"algorithm=MPIR_Allreduce_intra_reduce_scatter_allgather": {}},
}
SELECTION = {
    "ch4": {
        "collective=bcast": {"comm_type=intra": {"composition=MPIDI_Bcast_intra_composition_gamma": {}}},
        "collective=allreduce": {"comm_type=intra": OWN_CH4},
    },
    "mpir": {
        "collective=allreduce": {
            "comm_type=intra": OWN_MPIR,
            "comm_type=inter": {"algorithm=MPIR_Allreduce_inter_reduce_exchange_bcast": {}},
        },
    },
}


def test_mpich_tuning_per_size_rewrites_its_built_in_files_for_all_reduce(tmp_path, monkeypatch):
    import json
    from argparse import Namespace

    import pandas as pd

    from bench.commands import tune
    from bench.commands.tune import _write_measured, measured_tuning
    from collectives.mpiforce import MPICH_MPIR_ONLY

    monkeypatch.setattr(tune, "mpich_selection", lambda: SELECTION)
    # ring wins at 1 KiB (2x), recursive_doubling at 1 MiB (1.25x); k_reduce_scatter_allgather (4x at 1 MiB) needs
    # parameters in a tuning file, so it is not written; 8 B stays MPICH's own
    times = {"mpi": [1.0, 1.0, 1.0], "mpi:ring": [1.2, 0.5, 0.9], "mpi:recursive_doubling": [1.5, 0.9, 0.8]}
    rows = _rows(times, "MPICH")
    extra = _rows({"mpi:k_reduce_scatter_allgather": [2.0, 2.0, 0.25]}, "MPICH")
    measured = measured_tuning(pd.concat([rows, extra], ignore_index=True))
    out = _write_measured(measured, Namespace(out=str(tmp_path / "t.env"), results=[str(tmp_path)]))
    assert [(r["from"], r["force"]) for r in out["table"]] == [(8, ""), (1024, "ring"), (1 << 20, "recursive_doubling")]
    env, ch4, mpir = out["files"]
    text = open(env).read()
    assert f"export MPIR_CVAR_CH4_COLL_SELECTION_TUNING_JSON_FILE={ch4} " in text
    assert f"export MPIR_CVAR_COLL_SELECTION_TUNING_JSON_FILE={mpir} " in text
    assert "MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM" not in text  # a global choice would reach MPICH's own ranges too
    by_size = {"avg_msg_size<=1023": None, "avg_msg_size<=1048575": None, "avg_msg_size=any": None}
    written = json.load(open(ch4))
    assert written["collective=bcast"] == SELECTION["ch4"]["collective=bcast"]  # the other collectives: untouched
    assert written["collective=allreduce"]["comm_type=intra"] == {
        "comm_size<2": OWN_CH4,
        "comm_size<3": dict(zip(by_size, [OWN_CH4, {MPICH_MPIR_ONLY: {}}, {MPICH_MPIR_ONLY: {}}], strict=True)),
        "comm_size=any": OWN_CH4,
    }
    algorithms = json.load(open(mpir))["collective=allreduce"]
    assert algorithms["comm_type=inter"] == SELECTION["mpir"]["collective=allreduce"]["comm_type=inter"]
    assert algorithms["comm_type=intra"]["comm_size<3"] == dict(
        zip(
            by_size,
            [
                OWN_MPIR,
                {"algorithm=MPIR_Allreduce_intra_ring": {}},
                {"algorithm=MPIR_Allreduce_intra_recursive_doubling": {}},
            ],
            strict=True,
        )
    )
    tuning = read_tuning(env)
    sizes = ((2, 8), (2, 1023), (2, 1024), (2, 1 << 20), (2, 1 << 30), (4, 1 << 20))
    assert [tuning.choice(p, n) for p, n in sizes] == ["", "", "ring", "recursive_doubling", "recursive_doubling", ""]
