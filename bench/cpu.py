"""CPU time of processes over a measure: where a machine's seconds went.

A process counts with its children, so PostgreSQL is its server and
every backend. A child that exits takes its CPU time with it: the
processes measured must keep their children (the services keep their
pools' connections) until the measure ends.

Beside the processes named, `other` is what the machine's cores did for
no process named: the kernel's own work (carrying loopback traffic among
it) and every other program. With `busy_pct`, the share of all cores'
time that was not idle, it tells a rate bound by CPU from one that
leaves cores waiting.
"""

from __future__ import annotations

import psutil

from tests.stack import Stack


class CpuMeter:
    """CPU seconds each named process has used since the meter was made."""

    def __init__(self, processes: dict[str, psutil.Process]) -> None:
        self._processes = processes
        self._started = self._now()
        self._machine_started = _machine()

    def used(self) -> dict[str, float]:
        """CPU seconds of each process, and `other`, since the start."""
        now = self._now()
        used = {name: now[name] - self._started[name] for name in now}
        busy, _ = _since(self._machine_started)
        # Clock ticks count the machine, finer times the processes.
        used["other"] = max(0.0, busy - sum(used.values()))
        return used

    def busy_pct(self) -> float:
        """The share of all cores' time since the start that was not idle."""
        busy, total = _since(self._machine_started)
        return round(100 * busy / total, 1) if total else 0.0

    def ms_per(self, count: int) -> dict[str, float]:
        """Milliseconds of CPU each process, and `other`, used per one of
        count things."""
        return {
            name: round(1000 * seconds / max(count, 1), 3)
            for name, seconds in self.used().items()
        }

    def _now(self) -> dict[str, float]:
        return {
            name: sum(_cpu(p) for p in _with_children(process))
            for name, process in self._processes.items()
        }


def this_process() -> psutil.Process:
    return psutil.Process()


def server(stack: Stack, name: str) -> psutil.Process:
    """The PostgreSQL or Valkey server of stack."""
    return psutil.Process(stack.servers.procs[name].pid)


def service(stack: Stack, name: str) -> psutil.Process:
    return psutil.Process(stack.procs[name].pid)


def _with_children(process: psutil.Process) -> list[psutil.Process]:
    if process.pid == psutil.Process().pid:
        # This process's children are servers measured on their own.
        return [process]
    return [process, *process.children(recursive=True)]


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def _machine() -> tuple[float, float]:
    """All cores' busy and total seconds since boot."""
    times = psutil.cpu_times()
    # Linux counts a guest's time in user time as well.
    total = (
        sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    )
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total - idle, total


def _since(started: tuple[float, float]) -> tuple[float, float]:
    busy, total = _machine()
    return busy - started[0], total - started[1]
