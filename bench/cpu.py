"""CPU time of processes over a measure: where a machine's seconds went.

A process counts with its children, so PostgreSQL is its server and
every backend. A child that exits takes its CPU time with it: the
processes measured must keep their children (the services keep their
pools' connections) until the measure ends.
"""

from __future__ import annotations

import psutil

from tests.stack import Stack


class CpuMeter:
    """CPU seconds each named process has used since the meter was made."""

    def __init__(self, processes: dict[str, psutil.Process]) -> None:
        self._processes = processes
        self._started = self._now()

    def used(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - self._started[name] for name in now}

    def ms_per(self, count: int) -> dict[str, float]:
        """Milliseconds of CPU each process used per one of count things."""
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
