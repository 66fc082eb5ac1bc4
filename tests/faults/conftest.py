"""Two emulated nodes with Slurm on them, for every fault case of the module (made once: about a second)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_cluster import slurm_on_nodes

RATE = "1gbit"  # each node's link, each way: a 2 MB all-reduce across the nodes takes about 25 ms


@pytest.fixture(scope="module")
def slurm_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], Path]]:
    """Two nodes linked at RATE, with Slurm on them: (node names, Slurm's state folder). Afterwards nothing of either
    is left."""
    state = tmp_path_factory.mktemp("faults-slurm")
    with slurm_on_nodes(state, RATE) as nodes:
        yield nodes, state
