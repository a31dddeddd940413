"""The fake app reports a confirmed user-node mapping as the RainMaker base SDK does: `USER_NODE_MAPPING_SUCCEED`
with status `succeed` (`ESPDevice.provision` in `@espressif/rainmaker-base-sdk`), in both association flows."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.esp.client.app import ESPProvisionStatus
from emulators.esp.client.cloud import ControlApiCloud
from emulators.harness import running

from .test_softap_e2e import INSTANT, provision


@pytest.mark.parametrize(("rainmaker", "provision_type"), [("ch_resp", "chal_resp"), ("user_assoc", "mqtt")])
async def test_user_node_mapping_succeed_has_status_succeed(tmp_path: Path, rainmaker: str,
                                                            provision_type: str) -> None:
    async with running(["esp"], tmp_path, {"esp": {**INSTANT, "rainmaker": rainmaker}}) as suite:
        listener = suite.emulators["esp"].listeners()[0]
        cloud = ControlApiCloud(suite.control_url, "user-1")
        status, events = await provision(listener.address, 2, provision_type=provision_type, cloud=cloud)
    assert status is ESPProvisionStatus.SUCCESS
    mapped = [e for e in events if e.code == "USER_NODE_MAPPING_SUCCEED"]
    assert [e.status for e in mapped] == ["succeed"]
    assert mapped[0].data["nodeId"]
