#!/usr/bin/env python3
"""Container healthcheck: exit 0 when the control API's /healthz answers `ok` with every emulator listening.

It resolves the control API's address the way `provemu serve` does (config file `[serve]`, then
`PROVEMU_*` environment), so a changed control port or host needs no extra healthcheck setting.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

from emulators.config import load_config, read_config_file
from emulators.runner import ServeConfig

_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def main() -> int:
    try:
        serve = load_config(ServeConfig, "serve", read_config_file(os.environ.get("PROVEMU_CONFIG")),
                            os.environ, env_prefix="PROVEMU_")
        host = _WILDCARDS.get(serve.control_host, serve.control_host)
        host = f"[{host}]" if ":" in host else host
        request = urllib.request.Request(f"http://{host}:{serve.control_port}/healthz")
        if serve.control_token:
            request.add_header("Authorization", f"Bearer {serve.control_token}")
        with urllib.request.urlopen(request, timeout=4) as response:
            body = json.load(response)
    except Exception as exc:  # any failure is "unhealthy"; say why in one line
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    idle = [name for name, info in body.get("emulators", {}).items() if not info.get("listeners")]
    if body.get("status") != "ok" or idle:
        print(f"unhealthy: status={body.get('status')} without listeners: {idle}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
