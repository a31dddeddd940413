"""The pytest plugin from a fresh project, first try: what its fixtures import at run time is a dependency of
the package, and the async example of docs/suite.md runs as written, with the setup it states (from the source
tree here; `make package-check` runs it again from the installed wheel)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from tests.packaging.check_wheel import write_docs_async_project

from .serve_helpers import ROOT
from .test_plugin import _run_pytest

FIRST_PARTY = {"protocols", "emulators", "certs"}


def _distribution_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def _third_party_imports(module: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found - FIRST_PARTY - set(sys.stdlib_module_names)


def test_what_the_plugin_imports_is_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_distribution_name(req) for req in project["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    # pytest itself is the host that loads the plugin, never something the plugin brings along.
    needed = _third_party_imports(ROOT / "emulators" / "pytest_plugin.py") - {"pytest", "_pytest"}
    assert needed, "the plugin imports no third-party module: this test lost its subject"
    missing = {name for name in needed if not {_distribution_name(d) for d in providers.get(name, [name])} & runtime}
    assert not missing, f"the pytest plugin imports {sorted(missing)}, which [project].dependencies lacks"


def test_the_docs_async_example_runs_in_a_fresh_project(tmp_path: Path) -> None:
    project = tmp_path / "fresh"
    write_docs_async_project(project)
    result = _run_pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout
