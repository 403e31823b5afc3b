"""bench.cpu: where a machine's CPU time went over a measure."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from bench.cpu import CpuMeter, this_process

SPIN_S = 0.5
SPIN = (
    "import time\n"
    f"end = time.process_time() + {SPIN_S}\n"
    "while time.process_time() < end:\n"
    "    pass\n"
)


def test_work_of_no_process_named_counts_as_other() -> None:
    meter = CpuMeter({"here": this_process()})
    started = time.perf_counter()

    subprocess.run([sys.executable, "-c", SPIN], check=True)

    wall = time.perf_counter() - started
    used = meter.ms_per(1)
    assert used["other"] >= 0.8 * 1000 * SPIN_S
    assert used["here"] < used["other"]
    # The spinning process kept one core of all busy, at the least.
    cores = psutil.cpu_count() or 1
    busy = meter.busy_pct()
    assert 0.8 * 100 * SPIN_S / (wall * cores) <= busy <= 100


def test_a_named_process_time_is_its_own_and_not_other() -> None:
    # It spins once told to, then waits to be told to end.
    child = subprocess.Popen(
        [sys.executable, "-c", f"input()\n{SPIN}input()\n"],
        stdin=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    try:
        spinner = psutil.Process(child.pid)
        meter = CpuMeter({"spinner": spinner})
        child.stdin.write("spin\n")
        child.stdin.flush()
        deadline = time.monotonic() + 30
        while sum(spinner.cpu_times()[:2]) < SPIN_S and time.monotonic() < deadline:
            time.sleep(0.05)
        used = meter.ms_per(1)
    finally:
        child.communicate("end\n")

    assert used["spinner"] >= 0.8 * 1000 * SPIN_S
    assert used["other"] < used["spinner"]
