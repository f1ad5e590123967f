"""What machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
import sys


def _cpuinfo_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def describe() -> dict:
    from ansible.release import __version__ as ansible_core

    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": _cpuinfo_model(),
        "memory_gib": _memory_gib(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "ansible_core": ansible_core,
    }


def one_line(machine: dict) -> str:
    return (f"{machine['nproc']} CPU ({machine['cpu_model']}), {machine['memory_gib']} GiB RAM, {machine['kernel']}, "
            f"Python {machine['python']}, ansible-core {machine['ansible_core']}")
