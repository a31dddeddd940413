"""Which emulators `serve all` runs: defaults < config file < environment < flags."""

from __future__ import annotations

import pytest

from emulators.config import ConfigError
from emulators.suite_config import enabled_emulators, without_switches

NAMES = ["aws", "esp", "nrf", "simplelink"]


def test_everything_is_enabled_by_default() -> None:
    assert enabled_emulators(NAMES, {}, {}) == NAMES


def test_file_then_environment_then_flags_win() -> None:
    data = {"aws": {"enabled": False}, "esp": {"enabled": False}, "nrf": {"enabled": False}}
    env = {"PROVEMU_ESP_ENABLED": "1", "PROVEMU_SIMPLELINK_ENABLED": "off"}
    assert enabled_emulators(NAMES, data, env) == ["esp"]
    assert enabled_emulators(NAMES, data, env, enable=["nrf,aws"], disable=["esp"]) == ["aws", "nrf"]


def test_bad_values_and_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="PROVEMU_NRF_ENABLED"):
        enabled_emulators(NAMES, {}, {"PROVEMU_NRF_ENABLED": "maybe"})
    with pytest.raises(ConfigError, match=r"\[esp\] enabled"):
        enabled_emulators(NAMES, {"esp": {"enabled": "perhaps"}}, {})
    with pytest.raises(ConfigError, match="--enable: unknown emulator zigbee"):
        enabled_emulators(NAMES, {}, {}, enable=["zigbee"])
    with pytest.raises(ConfigError, match="both --enable and --disable name aws"):
        enabled_emulators(NAMES, {}, {}, enable=["aws"], disable=["aws"])
    with pytest.raises(ConfigError, match="every emulator is disabled"):
        enabled_emulators(NAMES, {}, {}, disable=[",".join(NAMES)])


def test_switches_are_removed_before_emulator_configs_load() -> None:
    data = {"serve": {"control_port": 1}, "aws": {"enabled": False, "mqtt_port": 2}}
    env = {"PROVEMU_AWS_ENABLED": "0", "PROVEMU_AWS_MQTT_PORT": "3", "HOME": "/root"}
    clean_data, clean_env = without_switches(data, env, NAMES)
    assert clean_data == {"serve": {"control_port": 1}, "aws": {"mqtt_port": 2}}
    assert clean_env == {"PROVEMU_AWS_MQTT_PORT": "3", "HOME": "/root"}
    assert data["aws"] == {"enabled": False, "mqtt_port": 2}
