"""Capabilities a test may need (a browser, Slurm, PyTorch): skip by hand, fail in CI.

``.ci/run`` sets COLLBENCH_REQUIRE (e.g. ``slurm,browser,torch``); a test whose capability is
named there fails instead of skipping, so CI cannot silently skip what it is able to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def required(capability: str) -> bool:
    """Whether COLLBENCH_REQUIRE names ``capability``: then its absence fails instead of skipping."""
    wanted = {c.strip() for c in os.environ.get("COLLBENCH_REQUIRE", "").split(",")}
    return capability in wanted


def skip_or_fail(capability: str, reason: str) -> None:
    """Skip (by hand) or fail (when CI requires ``capability``) because ``reason``."""
    if required(capability):
        pytest.fail(f"COLLBENCH_REQUIRE names {capability}, but {reason}")
    pytest.skip(reason)


def namespaces_missing() -> str | None:
    """Why the emulated cluster (root, network namespaces, ip, tc, unshare) cannot run here, or None."""
    if os.geteuid() != 0:
        return "the emulated cluster needs root"
    if not shutil.which("ip") or not shutil.which("tc") or not shutil.which("unshare"):
        return "the emulated cluster needs ip, tc and unshare (iproute2, util-linux)"
    probe = subprocess.run(["ip", "netns", "add", "cbprobe"], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", "cbprobe"], capture_output=True)
    return None if probe.returncode == 0 else f"cannot make a network namespace: {probe.stderr.strip()}"
