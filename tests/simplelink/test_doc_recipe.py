"""docs/simplelink.md's SWRA513 §8.5 recipe, run as written: the serve flags it gives, a person's pause before
the first command (longer than the NWP's 2 s auto-provisioning delay), then its host calls and the app's
provisioning, each answered as its comment says."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path
from typing import Any

from emulators.config import add_config_flags, cli_values
from emulators.simplelink.config import SimpleLinkConfig
from tests.simplelink.conftest import running_rig
from tests.simplelink.test_scenarios import confirm_until_ip

DOC = Path(__file__).parents[2] / "docs" / "simplelink.md"


def recipe_lines() -> list[list[str]]:
    text = DOC.read_text()
    block = re.search(r"Driving 8\.5 .*?```sh\n(.*?)```", text, flags=re.DOTALL)
    assert block is not None, "docs/simplelink.md lost its 8.5 recipe"
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.strip()]


def serve_settings(words: list[str]) -> dict[str, Any]:
    assert words[:3] == ["provemu", "serve", "simplelink"] and words[-1] == "&", words
    parser = argparse.ArgumentParser()
    add_config_flags(parser, SimpleLinkConfig)
    return cli_values(parser.parse_args(words[3:-1]), SimpleLinkConfig)


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


async def test_the_8_5_recipe_runs_as_written(tmp_path: Path) -> None:
    lines = recipe_lines()
    serve = next(words for words in lines if words[:2] == ["provemu", "serve"])
    async with running_rig(tmp_path, serve_settings(serve)) as rig:
        rig.advance(5.0)  # the person starts the next command after the device has booted
        for words in lines:
            if words[0] == "curl":
                path = option(words, "-XPOST").removeprefix("$C/")
                reply = await rig.host(path, **json.loads(option(words, "-d")))
                assert reply["return_code"] == 0, (words, reply, rig.trace())
            elif words[:3] == ["provemu", "simplelink", "ap"]:
                profile = {"__SL_P_P.A": option(words, "--ssid"), "__SL_P_P.B": "3",
                           "__SL_P_P.C": option(words, "--password")}
                assert (await rig.post("/api/1/wlan/profile_add", profile))[0] == 204
                assert (await rig.post("/api/1/wlan/confirm_req"))[0] == 204
                await confirm_until_ip(rig)
                assert (await rig.get("/__SL_G_MCR")) == (200, "5")
                assert "12" not in rig.trace()  # no STOPPED yet: the host confirms with its cloud
        assert rig.trace() == ["PA", "15", "16", "12"]
        assert rig.emu.device.state()["confirmed"] == "HomeNet"
