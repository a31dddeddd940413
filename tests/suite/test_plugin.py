"""The pytest plugin used the way a user's project uses it: the sample project runs in its own pytest
process, and every one of its tests must pass (none skipped)."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from emulators import registry
from emulators.pytest_plugin import FIXTURE_EMULATORS

from .serve_helpers import ROOT

SAMPLE = Path(__file__).parent / "sample_project"

pytestmark = pytest.mark.timeout(240)


def _plugin_entry_points() -> list[importlib.metadata.EntryPoint]:
    return [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.value == "emulators.pytest_plugin"]


def test_pytest11_entry_point_is_installed() -> None:
    found = _plugin_entry_points()
    assert [ep.name for ep in found] == ["provemu"], (
        "pyproject.toml needs [project.entry-points.pytest11] provemu = \"emulators.pytest_plugin\" "
        "(see docs/suite.md), then `make venv`")


def _run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Without the installed entry point (a plain checkout), load the plugin by module name instead.
    load = [] if _plugin_entry_points() else ["-p", "emulators.pytest_plugin"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *load,
         "--rootdir", str(project), *args],
        cwd=project, capture_output=True, text=True, timeout=200,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(project.parent)})


def test_sample_project_passes_using_the_fixtures(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    report = tmp_path / "report.xml"
    result = _run_pytest(project, f"--junitxml={report}")
    assert result.returncode == 0, result.stdout + result.stderr
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "0")
    passed = {case.get("name") for case in suite.iter("testcase")}
    available = [fixture for fixture, name in FIXTURE_EMULATORS.items() if name in registry.EMULATORS]
    expected = {f"test_each_fixture_hands_back_addresses_ca_and_control[{fixture}]" for fixture in available}
    assert expected <= passed
    assert "test_device_provisions_by_claim_and_then_publishes" in passed
    assert "test_app_provisions_the_node" in passed


def test_ini_option_limits_the_session_suite(tmp_path: Path) -> None:
    project = tmp_path / "limited"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\nprovemu_emulators = aws\n")
    (project / "test_limited.py").write_text(
        "def test_only_aws(provemu_suite):\n"
        "    assert list(provemu_suite.emulators) == ['aws']\n"
        "    assert list(provemu_suite.control.healthz()['emulators']) == ['aws']\n")
    result = _run_pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
