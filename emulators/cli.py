"""The `provemu` command: `serve <emulator>|all`, `certs ...`, and each emulator's client commands.

Only the command being run is imported: `provemu --help` lists every command without importing any emulator
(which takes seconds), and `provemu nrf ...` imports the nrf client alone.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from emulators import registry
from emulators.config import ConfigError, add_config_flags, check_tables, cli_values, load_config, read_config_file
from emulators.logs import configure_logging
from emulators.state import STATE_FILE, move_aside
from emulators.suite_config import ServeConfig, enabled_emulators, without_switches

SERVE_HELP = "run emulators in the foreground"
CERTS_HELP = "create and inspect the dev PKI"


class _Parser(argparse.ArgumentParser):
    """Usage errors end the process with one line, as the CLI contract promises (sub-parsers inherit this)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"provemu: {message} (see '{self.prog} --help')\n")


def version() -> str:
    try:
        return importlib.metadata.version("provemu")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _global_parser(**kwargs: Any) -> argparse.ArgumentParser:
    parser = _Parser(prog="provemu", description="Wire-level IoT provisioning emulators.", **kwargs)
    parser.add_argument("--log-level", default=os.environ.get("PROVEMU_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)
    parser.add_argument("--log-format", default=os.environ.get("PROVEMU_LOG_FORMAT", "text"),
                        choices=["text", "json"])
    return parser


def chosen_command(argv: Sequence[str]) -> str | None:
    """The command `argv` runs (None for none, e.g. `provemu --help`), read without building any sub-parser."""
    parser = _global_parser(add_help=False)
    parser.add_argument("command", nargs="?")
    known, _ = parser.parse_known_args(argv)
    command: str | None = known.command
    return command


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `provemu` parser; only `command`'s arguments are built (no command's for None: `provemu --help`)."""
    parser = _global_parser()
    parser.add_argument("--version", action="version", version=f"provemu {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    adders: dict[str, tuple[str, Callable[[Any], None]]] = {
        "serve": (SERVE_HELP, _add_serve_commands),
        "certs": (CERTS_HELP, _add_certs_commands),
        **{spec.name: (f"{spec.name} client commands (see 'provemu {spec.name} --help')",
                       _client_commands(spec)) for spec in registry.SPECS},
    }
    for name, (help_text, add) in adders.items():
        if name == command:
            add(commands)
        else:
            commands.add_parser(name, help=help_text)
    return parser


def _add_serve_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help=SERVE_HELP)
    targets = serve.add_subparsers(dest="target", required=True, metavar="EMULATOR")
    classes = registry.available()
    for name, cls in classes.items():
        sub = targets.add_parser(name, help=f"run the {name} emulator")
        _add_serve_flags(sub)
        add_config_flags(sub, cls.config_class)
    everything = targets.add_parser("all", help="run every emulator in one process")
    _add_serve_flags(everything)
    for switch, verb in (("enable", "run"), ("disable", "skip")):
        everything.add_argument(f"--{switch}", action="append", default=[], metavar="NAME[,NAME]",
                                help=f"{verb} these emulators, overriding [NAME] enabled and "
                                     f"PROVEMU_<NAME>_ENABLED (repeatable)")
    for name, cls in classes.items():
        add_config_flags(everything, cls.config_class, prefix=f"{name}-")


def _add_certs_commands(commands: Any) -> None:
    from certs.cli import add_certs_commands
    add_certs_commands(commands, CERTS_HELP)


def _client_commands(spec: registry.EmulatorSpec) -> Callable[[Any], None]:
    def add(commands: Any) -> None:
        try:
            adder = registry.load(spec.client_commands)
        except ImportError as exc:
            commands.add_parser(spec.name, help=f"unavailable: {exc}")
            print(f"provemu: {spec.name} is unavailable: {exc}", file=sys.stderr)
            return
        adder(commands)
    return add


def _add_serve_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", default=os.environ.get("PROVEMU_CONFIG"),
                        help="TOML config file ([serve] and one table per emulator)")
    parser.add_argument("--reset-state", action="store_true",
                        help=f"move <state-dir>/{STATE_FILE} aside (renamed with a timestamp suffix) and start "
                             f"with an empty state; the PKI is kept")
    add_config_flags(parser, ServeConfig)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(chosen_command(argv)).parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        if args.command == "serve":
            return asyncio.run(_serve(args))
        result = args.handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except ConfigError as exc:
        print(f"provemu: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _serve(args: argparse.Namespace) -> int:
    file_data = read_config_file(args.config)
    check_tables(file_data, ["serve", *registry.EMULATORS], args.config)
    if args.target == "all":
        names = enabled_emulators(list(registry.available()), file_data, os.environ, args.enable, args.disable)
    else:
        names = [args.target]
    file_data, env = without_switches(file_data, os.environ, registry.EMULATORS)
    serve = load_config(ServeConfig, "serve", file_data, env, cli_values(args, ServeConfig),
                        env_prefix="PROVEMU_")
    configs: dict[str, Any] = {}
    for name in names:
        cls = registry.emulator_class(name).config_class
        prefix = f"{name}-" if args.target == "all" else ""
        configs[name] = load_config(cls, name, file_data, env, cli_values(args, cls, prefix))
    if args.reset_state:
        moved = move_aside(serve.state_dir / STATE_FILE, datetime.datetime.now(datetime.UTC))
        if moved is not None:
            logging.getLogger("provemu").warning("moved the state database aside to %s", moved)
    from emulators.runner import StartupError, Suite

    suite = Suite(serve, configs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await suite.start()
    except StartupError as exc:
        print(f"provemu: {exc}", file=sys.stderr)
        return 2
    print(suite.ready_line(), flush=True)
    try:
        await stop.wait()
    finally:
        suite.log.info("shutting down")
        await suite.drain()
    return 0


if __name__ == "__main__":
    sys.exit(main())
