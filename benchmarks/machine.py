"""What a benchmark ran on: the CPU, its vector extensions, the kernel libraries.

The same code ran at 0.93x plain PyTorch on one CPU kind and 0.45x on another
(issue 36), so every speed figure is printed beside the machine that made it.

Example:

>>> info = describe()
>>> sorted(info)
['cores', 'cpu', 'extensions', 'kernels', 'kind']
>>> isinstance(summary_line(info), str)
True
"""

from __future__ import annotations

import os
import platform

# The extensions that decide which kernels oneDNN, Eigen and ATen pick.
EXTENSIONS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "asimd",  # ARM NEON
    "sve",
)


def cpu_flags():
    """`(model name, set of flags)` from /proc/cpuinfo (empty off Linux)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and value.strip():
                    name = value.strip()
                elif key in ("flags", "Features"):
                    flags.update(value.split())
                if flags and key == "" and name:
                    break  # the first processor's block is enough
    except OSError:
        pass
    return name, flags


def kind(flags=None):
    """The CPU kind the project's speed rules are keyed by: `"avx512"` (AVX-512
    foundation), `"avx2"` (AVX2 and FMA without it), `"arm"` or `"other"`."""
    if flags is None:
        flags = cpu_flags()[1]
    if "avx512f" in flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    if "asimd" in flags:
        return "arm"
    return "other"


def describe():
    """The machine as a dict: `cpu`, `kind`, `extensions`, `cores`, and the
    `kernels` settings in force (oneDNN on or off for TensorFlow, the ISA
    caps a run may have set)."""
    name, flags = cpu_flags()
    kernels = {
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA", "default"),
        "ATEN_CPU_CAPABILITY": os.environ.get("ATEN_CPU_CAPABILITY", "default"),
    }
    return {
        "cpu": name,
        "kind": kind(flags),
        "extensions": [e for e in EXTENSIONS if e in flags],
        "cores": os.cpu_count(),
        "kernels": kernels,
    }


def summary_line(info=None):
    """One line for a benchmark's header."""
    info = info or describe()
    caps = ", ".join(f"{k}={v}" for k, v in info["kernels"].items() if v != "default")
    return (
        f"machine: {info['cpu']}, {info['cores']} cores, kind {info['kind']} "
        f"({' '.join(info['extensions']) or 'no vector extension listed'})"
        + (f"; {caps}" if caps else "; kernel libraries at their defaults")
    )
