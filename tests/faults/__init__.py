"""Fault injection on the emulated cluster (issue 19).

A package, so that its conftest imports as ``faults.conftest``: a second top-level ``conftest`` would take the
place of tests/conftest.py, which the tests beside this folder import (``from conftest import ROOT``).
"""
