"""Steer numpy away from a code path that is slow on one family of processors.

AMD Zen 4 processors (family 19h with AVX-512) execute AVX-512 well except
``VPCOMPRESS`` with a memory destination, which is microcoded (about 140
cycles).  numpy's AVX-512 sorts (x86-simd-sort) store with it on every
vector, so there they run several times slower than numpy's own AVX2 sorts:
measured on the benchmark machine, 151 ms instead of 23 ms for 4.2 million
32-bit keys, and the 10-million-row draw 1.9 s instead of 1.4 s (x86-simd-sort
issue #6; numpy PR #32690).  Zen 5 and Intel processors are not affected.

numpy reads ``NPY_DISABLE_CPU_FEATURES`` once, when it is first imported, so
:func:`prefer_avx2_sorting` must run before that: the command lines
(``python -m sampling``, ``minyi``) and the gunicorn configuration call it
first.  A library user's process is left alone (numpy is usually loaded
already), and so is any process whose environment already chooses numpy's
CPU features.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from importlib import metadata

#: AMD family 19h: Zen 3 (no AVX-512) and Zen 4 (AVX-512 with the slow compress-store).
SLOW_COMPRESS_STORE_FAMILY = 0x19
#: numpy (2.4 and later) names of the AVX-512 groups its sorts dispatch to.
AVX512_FEATURES = "X86_V4 AVX512_ICL AVX512_SPR"
#: The first numpy whose feature names are those above.
NUMPY_WITH_GROUP_NAMES = (2, 4)


def has_slow_avx512_sort(cpuinfo: str) -> bool:
    """Whether ``/proc/cpuinfo`` text describes an AMD family 19h processor with AVX-512."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor describes them all
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return (
        fields.get("vendor_id") == "AuthenticAMD"
        and fields.get("cpu family", "").isdigit()
        and int(fields["cpu family"]) == SLOW_COMPRESS_STORE_FAMILY
        and "avx512f" in fields.get("flags", "").split()
    )


def _numpy_version() -> tuple[int, ...]:
    try:
        release = metadata.version("numpy").split("+")[0].split(".")[:2]
        return tuple(int(part) for part in release if part.isdigit())
    except metadata.PackageNotFoundError:
        return ()


def prefer_avx2_sorting(
    environ: MutableMapping[str, str] | None = None,
    cpuinfo_path: str = "/proc/cpuinfo",
    *,
    numpy_loaded: bool | None = None,
) -> bool:
    """Disable numpy's AVX-512 paths where they make sorting slow; True if it did.

    Does nothing once numpy is imported, when ``NPY_DISABLE_CPU_FEATURES`` or
    ``NPY_ENABLE_CPU_FEATURES`` is set, on other processors, and with a numpy
    older than 2.4 (other feature names).
    """
    environ = os.environ if environ is None else environ
    if numpy_loaded is None:
        numpy_loaded = "numpy" in sys.modules
    if numpy_loaded or {"NPY_DISABLE_CPU_FEATURES", "NPY_ENABLE_CPU_FEATURES"} & set(environ):
        return False
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as handle:
            cpuinfo = handle.read(16_384)
    except OSError:
        return False
    if not has_slow_avx512_sort(cpuinfo) or _numpy_version() < NUMPY_WITH_GROUP_NAMES:
        return False
    environ["NPY_DISABLE_CPU_FEATURES"] = AVX512_FEATURES
    return True
