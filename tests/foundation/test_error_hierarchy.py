"""Every error a protocol core defines is a ProtocolError, remote (the peer's fault) or local (our caller's)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import protocols
from protocols.errors import LocalProtocolError, ProtocolError, RemoteProtocolError


def protocol_errors() -> list[type[BaseException]]:
    found = []
    for module_info in pkgutil.walk_packages(protocols.__path__, "protocols."):
        if module_info.name.endswith("_pb2"):
            continue  # generated protobuf modules define no errors of ours
        module = importlib.import_module(module_info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


def test_every_protocol_error_is_remote_or_local() -> None:
    errors = protocol_errors()
    assert len(errors) >= 20, "the walk found almost nothing: it is broken"
    strays = [f"{e.__module__}.{e.__qualname__}" for e in errors if not issubclass(e, ProtocolError)]
    assert strays == []
    # a package's own root (EspError, SimpleLinkError) may stay unsided: its subclasses take a side
    roots = {ProtocolError, RemoteProtocolError, LocalProtocolError}
    package_roots = {e for e in errors if any(other is not e and issubclass(other, e) for other in errors)}
    unsided = [e.__qualname__ for e in errors if e not in roots | package_roots
               and not issubclass(e, RemoteProtocolError | LocalProtocolError)]
    assert unsided == []
