"""The fleet command's progress bar on stderr (rich): devices done out of all, how many failed, elapsed time.
On a terminal it redraws in place; otherwise rich prints it once when the run ends."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from emulators.aws.client.fleet import DeviceFailure


class FleetProgress:
    def __init__(self, devices: int, console: Console | None = None) -> None:
        self._progress = Progress(TextColumn("provisioning"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                                  console=console or Console(stderr=True))
        self._task = self._progress.add_task("fleet", total=devices, failed=0)
        self._failed = 0

    def device_done(self, failure: DeviceFailure | None) -> None:
        if failure is not None:
            self._failed += 1
        self._progress.update(self._task, advance=1, failed=self._failed)

    def __enter__(self) -> FleetProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._progress.stop()
