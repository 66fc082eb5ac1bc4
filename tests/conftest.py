"""Shared test plumbing: where mpiexec is, how to launch collbench, and required capabilities.

Tests under tests/mpi run inside ``mpiexec`` (driven by tests/test_mpi_suite.py), never in
this single process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from capabilities import skip_or_fail  # noqa: F401  (re-exported for the tests)
from hypothesis import settings

# A shared 2-core machine runs these: time limits per example would only measure the neighbours.
settings.register_profile("collbench", deadline=None)
settings.load_profile("collbench")

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "tests" / "plugins"

collect_ignore = ["mpi", "plugins", "bench"]


def mpiexec() -> str:
    """The mpiexec beside this Python (the venv's mpich wheel), else the first on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    if local.exists():
        return str(local)
    found = shutil.which("mpiexec")
    if not found:
        pytest.fail("no mpiexec found: install the 'mpich' extra (pip install -e '.[mpich,test]')")
    return found


def launch_env(**extra: str) -> dict[str, str]:
    """The environment for launched processes: test plugins importable, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), str(ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_collbench(
    nranks: int, *args: str, timeout: float = 120, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``mpiexec -n nranks python -m bench ARGS``; the finished process with its output."""
    command = [mpiexec(), "-n", str(nranks), sys.executable, "-m", "bench", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env or launch_env(), cwd=cwd or ROOT
    )
