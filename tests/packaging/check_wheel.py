"""`make package-check`: provemu as users install it, not as the source tree runs it.

Builds the sdist and, from it, the wheel (`python -m build`), checks both (`twine check --strict`), installs the
wheel with nothing but its declared dependencies into a fresh virtualenv, and from a directory outside the
checkout (so nothing is imported from the source tree):

1. `provemu --help` and `provemu serve all` until its ready line, on free loopback ports;
2. `/healthz` lists every registered emulator with listeners;
3. `provemu aws provision` from that virtualenv provisions a device by claim against it;
4. SIGTERM ends the server with status 0;
5. a fresh pytest project using the plugin's fixtures (the async example of docs/suite.md) passes with only
   pytest and pytest-asyncio added, as docs/suite.md says.

Dependencies come from the pip cache and pinned to the versions of the running environment (`pip freeze`), so
a second run downloads nothing. Everything listens on and talks to 127.0.0.1 only.

    python -m tests.packaging.check_wheel [--out build/package-check]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 90.0
# The fresh project's runner: what docs/suite.md tells a user to add for async tests.
PYTEST_PACKAGES = ["pytest", "pytest-asyncio"]


class CheckFailed(Exception):
    """One step failed; the message says which and why."""


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 600) -> str:
    command = [str(a) for a in args]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise CheckFailed(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would point Python or provemu at the checkout."""
    drop = ("PYTHONPATH", "PROVEMU_", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def build(out: Path) -> tuple[Path, Path]:
    dist = out / "dist"
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    wheels, sdists = sorted(dist.glob("provemu-*.whl")), sorted(dist.glob("provemu-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise CheckFailed(f"expected one wheel and one sdist in {dist}, found {[p.name for p in dist.iterdir()]}")
    run(sys.executable, "-m", "twine", "check", "--strict", wheels[0], sdists[0])
    return wheels[0], sdists[0]


def constraints(out: Path) -> Path:
    """The running environment's versions, so the fresh install resolves from the pip cache."""
    frozen = run(sys.executable, "-m", "pip", "freeze", "--exclude-editable")
    pins = [line for line in frozen.splitlines() if line and not re.match(r"(-e |provemu[ =@])", line)]
    path = out / "constraints.txt"
    path.write_text("\n".join(pins) + "\n")
    return path


def fresh_venv(out: Path, wheel: Path, pins: Path) -> Path:
    venv = out / "venv"
    run(sys.executable, "-m", "venv", "--clear", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", pins, wheel,
        env=clean_env())
    return venv


def serve_all(venv: Path, work: Path) -> tuple[subprocess.Popen[str], str]:
    """`provemu serve all` from the fresh venv on free ports; returns the process and its ready line."""
    env = clean_env(PROVEMU_HOST="127.0.0.1", PROVEMU_CONTROL_PORT="0")
    for name in json.loads(run(venv / "bin" / "python", "-c", _PORT_FIELDS, cwd=work, env=env)):
        env[name] = "0"
    process = subprocess.Popen([venv / "bin" / "provemu", "serve", "all", "--state-dir", work / "state"],
                               cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and selector.select(timeout=max(0.0, deadline - time.monotonic())):
        line = process.stdout.readline()
        if line.startswith("provemu ready"):
            return process, line.strip()
        if line == "":
            break
    process.kill()
    _, stderr = process.communicate(timeout=10)
    raise CheckFailed(f"provemu serve all from the wheel never got ready:\n{stderr}")


# Every `*_port` setting of every registered emulator, as the PROVEMU_<EMULATOR>_<FIELD> variable that sets it.
_PORT_FIELDS = """
import dataclasses, json
from emulators import registry
print(json.dumps([f"PROVEMU_{name.upper()}_{f.name.upper()}" for name in registry.EMULATORS
                  for f in dataclasses.fields(registry.emulator_class(name).config_class)
                  if f.name.endswith("_port")]))
"""


def smoke(venv: Path, work: Path, ready: str) -> str:
    control = ready.rsplit("control=", 1)[1].split()[0]
    with urllib.request.urlopen(f"{control}/healthz", timeout=10) as response:
        health = json.load(response)
    idle = [name for name, info in health["emulators"].items() if not info.get("listeners")]
    if health.get("status") != "ok" or idle:
        raise CheckFailed(f"/healthz from the wheel: status {health.get('status')}, without listeners: {idle}")
    aws = health["emulators"].get("aws")
    if aws is None:
        return f"{sorted(health['emulators'])} healthy (no aws emulator to provision through)"
    port = next(listener["port"] for listener in aws["listeners"] if listener["transport"] == "mqtts")
    output = run(venv / "bin" / "provemu", "aws", "provision", "--endpoint", "127.0.0.1", "--port", str(port),
                 "--state-dir", work / "state", "--param", "SerialNumber=package-check-1",
                 cwd=work, env=clean_env(), timeout=120)
    if "package-check-1" not in output:
        raise CheckFailed(f"provemu aws provision from the wheel did not register package-check-1:\n{output}")
    return f"{sorted(health['emulators'])} healthy; aws provision registered package-check-1"


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise CheckFailed("provemu serve all from the wheel did not stop within 30 s of SIGTERM") from None
    _, stderr = process.communicate(timeout=10)
    if code != 0 or "Traceback" in stderr:
        raise CheckFailed(f"provemu serve all from the wheel exited {code} on SIGTERM:\n{stderr}")


def write_docs_async_project(project: Path) -> None:
    """A fresh pytest project made of docs/suite.md's async example and the `pytest.ini` that page asks for."""
    docs = (ROOT / "docs" / "suite.md").read_text()
    project.mkdir()
    (project / "pytest.ini").write_text(_fenced(docs, "ini", "asyncio_mode"))
    (project / "test_async_example.py").write_text(_fenced(docs, "python", "async def test_"))


def plugin_project(venv: Path, work: Path, pins: Path) -> None:
    """The docs' async example as a fresh project, run by the fresh venv's pytest with the plugin from the wheel."""
    project = work / "fresh-project"
    write_docs_async_project(project)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", pins,
        *PYTEST_PACKAGES, env=clean_env())
    output = run(venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project,
                 env=clean_env(), timeout=300)
    if "1 passed" not in output:
        raise CheckFailed(f"the fresh project's async example did not pass:\n{output}")


def _fenced(markdown: str, language: str, containing: str) -> str:
    for block in re.findall(rf"```{language}\n(.*?)```", markdown, flags=re.DOTALL):
        if containing in block:
            return str(block)
    raise CheckFailed(f"docs/suite.md has no {language} block containing {containing!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "package-check")
    out = parser.parse_args().out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    work = out / "work"
    work.mkdir()
    started = time.monotonic()
    try:
        wheel, sdist = build(out)
        print(f"package-check: built and checked {wheel.name}, {sdist.name}", flush=True)
        pins = constraints(out)
        venv = fresh_venv(out, wheel, pins)
        run(venv / "bin" / "provemu", "--help", cwd=work, env=clean_env())
        process, ready = serve_all(venv, work)
        try:
            print(f"package-check: {ready}", flush=True)
            print(f"package-check: {smoke(venv, work, ready)}", flush=True)
        finally:
            if process.poll() is None:
                stop(process)
        plugin_project(venv, work, pins)
        print("package-check: a fresh pytest project passes with the plugin's fixtures", flush=True)
    except (CheckFailed, subprocess.TimeoutExpired, OSError) as exc:
        print(f"package-check: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"package-check: ok in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
