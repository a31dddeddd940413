"""Benchmark helpers: run `provemu serve` (or another broker) in a child process on loopback and stop it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def provemu_serve(emulator: str, state_dir: Path, *flags: str) -> Iterator[dict[str, str]]:
    """Start `provemu serve <emulator>` on free ports; yields the ready line's addresses."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "emulators.cli", "--log-level", "WARNING", "serve", emulator,
                                "--state-dir", str(state_dir), "--control-port", "0", *flags],
                               stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "ready" not in line:
            raise RuntimeError(f"provemu did not start: {line!r}")
        addresses = dict(re.findall(r"(\w[\w-]*)=(\S+?)(?=[\s\]])", line))
        yield addresses
    finally:
        process.terminate()
        process.wait(timeout=30)


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as response:
        result: dict[str, object] = json.loads(response.read())
        return result


def send_json(url: str, body: object, method: str = "POST") -> None:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"},
                                     method=method)
    with urllib.request.urlopen(request, timeout=10):
        pass


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])
