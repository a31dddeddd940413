"""Control routes of the ESP emulator under ``/api/esp``: nodes (state, sessions, RainMaker mapping, factory
reset), the simulated access points, and faults. They see the emulator only through ``EspControl``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from emulators.config import ConfigError
from emulators.esp.config import parse_access_point
from emulators.esp.node import EmulatedNode
from emulators.faults import fault_routes
from emulators.routes import (
    BAD_REQUEST,
    BOOLEAN,
    INTEGER,
    NO_CONTENT,
    NOT_FOUND,
    STRING,
    ControlError,
    Param,
    Reply,
    Route,
    array,
    json_body,
    obj,
)
from protocols.esp.wifi import WifiEnvironment
from protocols.faults import FaultPlan


class EspControl(Protocol):
    """What the control routes need from the running emulator."""

    @property
    def nodes(self) -> Mapping[str, EmulatedNode]: ...

    @property
    def env(self) -> WifiEnvironment: ...

    @property
    def faults(self) -> FaultPlan: ...

    def emit(self, kind: str, **data: Any) -> None: ...

    def transports(self, node: EmulatedNode) -> dict[str, Any]:
        """The node's transports as the node JSON shows them: ``softap`` (host:port) and ``ble``."""
        ...

    async def sync_transports(self, node: EmulatedNode) -> None:
        """Listen and advertise exactly while the node is in provisioning mode."""
        ...


def _ap_json(ap: Any) -> dict[str, Any]:
    return {
        "ssid": ap.ssid.decode("utf-8", "replace"),
        "bssid": ap.bssid.hex(":"),
        "channel": ap.channel,
        "rssi": ap.rssi,
        "auth": ap.auth,
        "passphrase": ap.passphrase.decode("utf-8", "replace"),
        "ip4_addr": ap.ip4_addr,
    }


_NULLABLE_STRING = {"type": ["string", "null"]}
ACCESS_POINT_IN = obj(("ssid",), ssid=STRING, bssid=STRING, channel=INTEGER, rssi=INTEGER, auth=STRING,
                      passphrase=STRING, ip4_addr=STRING)
ACCESS_POINT = obj(("ssid", "bssid", "channel", "rssi", "auth", "passphrase", "ip4_addr"),
                   **ACCESS_POINT_IN["properties"])
NODE = obj(("name", "security", "provisioning_active", "provisioned"), name=STRING, mac=STRING, security=INTEGER,
           flavour=STRING, pop=_NULLABLE_STRING, username=_NULLABLE_STRING, provisioning_active=BOOLEAN,
           provisioned=BOOLEAN, stored_ssid=_NULLABLE_STRING, prov_state=STRING, sta_state=STRING,
           fail_reason=STRING, softap=_NULLABLE_STRING, ble={"type": ["object", "null"]})


def control_routes(emu: EspControl) -> list[Route]:
    def node_or_404(request: web.Request) -> EmulatedNode:
        node = emu.nodes.get(request.match_info["name"])
        if node is None:
            raise ControlError(404, "no such node")
        return node

    def node_json(node: EmulatedNode) -> dict[str, Any]:
        return {**node.describe(), **emu.transports(node)}

    async def list_nodes(request: web.Request) -> web.Response:
        node_id = request.query.get("node_id")
        nodes = [n for n in emu.nodes.values() if node_id is None or n.spec.node_id == node_id]
        return web.json_response({"nodes": [node_json(n) for n in nodes]})

    async def get_node(request: web.Request) -> web.Response:
        return web.json_response(node_json(node_or_404(request)))

    async def factory_reset(request: web.Request) -> web.Response:
        node = node_or_404(request)
        node.factory_reset()
        await emu.sync_transports(node)
        return web.json_response(node_json(node))

    async def get_mapping(request: web.Request) -> web.Response:
        node = node_or_404(request)
        row = node.store.mapping(node.name)
        if node.device.rainmaker is None:
            raise ControlError(404, "not a RainMaker node")
        return web.json_response(
            {
                "node_id": node.spec.node_id,
                "mapping": None if row is None else {"user_id": row["user_id"], "secret_key": row["secret_key"]},
                "wifi_connected": node.device.connected_ap is not None or node.provisioned,
            }
        )

    async def list_sessions(_: web.Request) -> web.Response:
        out = []
        for node in emu.nodes.values():
            pc = node.device.protocomm
            out.append(
                {"node": node.name, "session": pc.session_id, "state": pc.session.state.value if pc.session else None}
            )
        return web.json_response({"sessions": out})

    async def list_aps(_: web.Request) -> web.Response:
        return web.json_response({"access_points": [_ap_json(ap) for ap in emu.env.access_points]})

    async def replace_aps(request: web.Request) -> web.Response:
        body = await json_body(request)
        if not isinstance(body, list):
            raise ControlError(400, "body must be a JSON list of access points")
        aps = [_access_point(a) for a in body]
        emu.env.access_points[:] = aps
        emu.emit("access_points_changed", count=len(aps))
        return web.json_response({"access_points": [_ap_json(ap) for ap in aps]})

    async def add_ap(request: web.Request) -> web.Response:
        ap = _access_point(await json_body(request))
        emu.env.access_points.append(ap)
        emu.emit("access_points_changed", count=len(emu.env.access_points))
        return web.json_response(_ap_json(ap), status=201)

    async def delete_ap(request: web.Request) -> web.Response:
        ssid = request.match_info["ssid"].encode()
        before = len(emu.env.access_points)
        emu.env.access_points[:] = [ap for ap in emu.env.access_points if ap.ssid != ssid]
        if len(emu.env.access_points) == before:
            raise ControlError(404, "no such access point")
        emu.emit("access_points_changed", count=len(emu.env.access_points))
        return web.Response(status=204)

    node = Reply("a node", NODE)
    aps = Reply("the access points", obj(("access_points",), access_points=array(ACCESS_POINT)))
    return [
        Route("GET", "/nodes", list_nodes, "Every node: state, session, Wi-Fi, RainMaker",
              {200: Reply("the nodes", obj(("nodes",), nodes=array(NODE)))},
              query=(Param("node_id", STRING, "only the node with this RainMaker node id"),)),
        Route("GET", "/nodes/{name}", get_node, "One node", {200: node, 404: NOT_FOUND}),
        Route("POST", "/nodes/{name}/factory-reset", factory_reset,
              "Forget stored Wi-Fi credentials and mapping; start provisioning again", {200: node, 404: NOT_FOUND}),
        Route("GET", "/nodes/{name}/mapping", get_mapping, "RainMaker user-node mapping of a node",
              {200: Reply("the mapping", obj(("node_id", "mapping", "wifi_connected"), node_id=STRING,
                                             mapping={"type": ["object", "null"]}, wifi_connected=BOOLEAN)),
               404: Reply("no such node, or not a RainMaker node")}),
        Route("GET", "/sessions", list_sessions, "Current security session of every node",
              {200: Reply("sessions", obj(("sessions",), sessions=array(obj(
                  ("node", "session", "state"), node=STRING, session={"type": ["integer", "null"]},
                  state={"type": ["string", "null"]}))))}),
        Route("GET", "/access-points", list_aps, "Simulated access points", {200: aps}),
        Route("PUT", "/access-points", replace_aps, "Replace the access points", {200: aps, 400: BAD_REQUEST},
              body=array(ACCESS_POINT_IN)),
        Route("POST", "/access-points", add_ap, "Add an access point",
              {201: Reply("added", ACCESS_POINT), 400: BAD_REQUEST}, body=ACCESS_POINT_IN),
        Route("DELETE", "/access-points/{ssid}", delete_ap, "Remove an access point",
              {204: NO_CONTENT, 404: NOT_FOUND}),
        *fault_routes(emu.faults),
    ]


def _access_point(raw: Any) -> Any:
    try:
        return parse_access_point(raw, "access point")
    except ConfigError as exc:
        raise ControlError(400, str(exc)) from None
