"""Control routes of the ESP emulator under ``/api/esp``: nodes (state, sessions, RainMaker mapping, factory
reset), the simulated access points, and faults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from emulators.config import ConfigError
from emulators.esp.config import parse_access_point
from emulators.faults import fault_openapi, fault_routes

if TYPE_CHECKING:
    from emulators.esp.emulator import EspEmulator
    from emulators.esp.node import EmulatedNode


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


def control_routes(emu: EspEmulator) -> list[web.RouteDef]:
    def node_or_404(request: web.Request) -> EmulatedNode:
        node = emu.nodes.get(request.match_info["name"])
        if node is None:
            raise web.HTTPNotFound(text='{"error": "no such node"}', content_type="application/json")
        return node

    def node_json(node: EmulatedNode) -> dict[str, Any]:
        out = node.describe()
        server = emu.softap.get(node.name)
        out["softap"] = f"{server.host}:{server.port}" if server else None
        peripheral = emu.ble.get(node.name)
        out["ble"] = peripheral.describe() if peripheral is not None else None
        return out

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
        row = emu.store.mapping(node.name)
        if node.device.rainmaker is None:
            return web.json_response({"error": "not a RainMaker node"}, status=404)
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
        try:
            body = await request.json()
            if not isinstance(body, list):
                raise ConfigError("body must be a JSON list of access points")
            aps = [parse_access_point(a, "access point") for a in body]
        except (ValueError, ConfigError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        emu.env.access_points[:] = aps
        emu.emit("access_points_changed", count=len(aps))
        return web.json_response({"access_points": [_ap_json(ap) for ap in aps]})

    async def add_ap(request: web.Request) -> web.Response:
        try:
            ap = parse_access_point(await request.json(), "access point")
        except (ValueError, ConfigError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        emu.env.access_points.append(ap)
        emu.emit("access_points_changed", count=len(emu.env.access_points))
        return web.json_response(_ap_json(ap), status=201)

    async def delete_ap(request: web.Request) -> web.Response:
        ssid = request.match_info["ssid"].encode()
        before = len(emu.env.access_points)
        emu.env.access_points[:] = [ap for ap in emu.env.access_points if ap.ssid != ssid]
        if len(emu.env.access_points) == before:
            return web.json_response({"error": "no such access point"}, status=404)
        emu.emit("access_points_changed", count=len(emu.env.access_points))
        return web.Response(status=204)

    return [
        web.get("/nodes", list_nodes),
        web.get("/nodes/{name}", get_node),
        web.post("/nodes/{name}/factory-reset", factory_reset),
        web.get("/nodes/{name}/mapping", get_mapping),
        web.get("/sessions", list_sessions),
        web.get("/access-points", list_aps),
        web.put("/access-points", replace_aps),
        web.post("/access-points", add_ap),
        web.delete("/access-points/{ssid}", delete_ap),
        *fault_routes(emu.faults),
    ]


def _op(
    summary: str, responses: dict[str, str], params: tuple[str, ...] = (), body: str | None = None
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {code: {"description": text} for code, text in responses.items()},
    }
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
    if body:
        op["requestBody"] = {"content": {"application/json": {"schema": {"description": body}}}}
    return op


def control_openapi(emu: EspEmulator) -> dict[str, Any]:
    p = "/api/esp"
    return {
        f"{p}/nodes": {
            "get": _op("Every node: state, session, Wi-Fi, RainMaker (optional ?node_id=)", {"200": "{nodes: [...]}"})
        },
        f"{p}/nodes/{{name}}": {"get": _op("One node", {"200": "node", "404": "no such node"}, ("name",))},
        f"{p}/nodes/{{name}}/factory-reset": {
            "post": _op(
                "Forget stored Wi-Fi credentials and mapping; start provisioning again",
                {"200": "node", "404": "no such node"},
                ("name",),
            )
        },
        f"{p}/nodes/{{name}}/mapping": {
            "get": _op(
                "RainMaker user-node mapping of a node",
                {"200": "mapping", "404": "no such (RainMaker) node"},
                ("name",),
            )
        },
        f"{p}/sessions": {"get": _op("Current security session of every node", {"200": "{sessions: [...]}"})},
        f"{p}/access-points": {
            "get": _op("Simulated access points", {"200": "{access_points: [...]}"}),
            "put": _op(
                "Replace the access points",
                {"200": "new list", "400": "invalid"},
                body="[{ssid, bssid?, channel?, rssi?, auth?, passphrase?, ip4_addr?}]",
            ),
            "post": _op(
                "Add an access point",
                {"201": "added", "400": "invalid"},
                body="{ssid, bssid?, channel?, rssi?, auth?, passphrase?, ip4_addr?}",
            ),
        },
        f"{p}/access-points/{{ssid}}": {
            "delete": _op("Remove an access point", {"204": "removed", "404": "unknown"}, ("ssid",))
        },
        **fault_openapi(p, emu.faults),
    }
