"""Configuration precedence: defaults < file < environment < flags < overrides, with clear errors."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulators.config import ConfigError, add_config_flags, cli_values, load_config, read_config_file


@dataclass
class Sample:
    port: int = field(default=1, metadata={"help": "a port"})
    name: str = "x"
    enabled: bool = True
    ratio: float = 0.5
    names: list[str] = field(default_factory=list)
    optional: int | None = None
    table: list[dict[str, str]] = field(default_factory=list)


def test_precedence(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[s]\nport = 2\nname = "file"\ntable = [{a = "b"}]\n')
    data = read_config_file(path)
    env = {"PROVEMU_S_NAME": "env", "PROVEMU_S_ENABLED": "false", "PROVEMU_S_NAMES": "a, b", "OTHER": "1"}
    config = load_config(Sample, "s", data, env, {"ratio": "0.25"}, {"optional": 7})
    assert config == Sample(port=2, name="env", enabled=False, ratio=0.25, names=["a", "b"], optional=7,
                            table=[{"a": "b"}])


def test_flags_are_generated_from_fields() -> None:
    parser = argparse.ArgumentParser()
    add_config_flags(parser, Sample, prefix="s-")
    args = parser.parse_args(["--s-port", "9", "--no-s-enabled", "--s-names", "x,y"])
    assert cli_values(args, Sample, "s-") == {"port": "9", "enabled": False, "names": "x,y"}
    assert load_config(Sample, "s", cli=cli_values(args, Sample, "s-")).port == 9
    assert not any("table" in action.dest for action in parser._actions)


@pytest.mark.parametrize(("env", "message"), [
    ({"PROVEMU_S_PORT": "eighty"}, "PROVEMU_S_PORT"),
    ({"PROVEMU_S_ENABLED": "maybe"}, "not a boolean"),
    ({"PROVEMU_S_NOPE": "1"}, "names no setting"),
])
def test_bad_values_name_their_source(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(Sample, "s", env=env)


def test_suite_wide_prefix_ignores_emulator_variables() -> None:
    @dataclass
    class Serve:
        host: str = "127.0.0.1"

    config = load_config(Serve, "serve", env={"PROVEMU_HOST": "::1", "PROVEMU_AWS_MQTT_PORT": "1"},
                         env_prefix="PROVEMU_")
    assert config.host == "::1"


def test_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[s\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_config_file(path)
    with pytest.raises(ConfigError, match="cannot read"):
        read_config_file(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="no setting"):
        load_config(Sample, "s", {"s": {"bogus": 1}})
