"""Which processors get numpy's AVX2 sorts instead of its AVX-512 ones (sampling.cpu_features)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sampling import cpu_features
from sampling.cpu_features import AVX512_FEATURES, has_slow_avx512_sort, prefer_avx2_sorting

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx avx2 avx512f avx512dq avx512bw avx512vl

processor\t: 1
vendor_id\t: AuthenticAMD
"""
ZEN3 = ZEN4.replace(" avx512f avx512dq avx512bw avx512vl", "")
ZEN5 = ZEN4.replace("cpu family\t: 25", "cpu family\t: 26")
INTEL = ZEN4.replace("AuthenticAMD", "GenuineIntel").replace("cpu family\t: 25", "cpu family\t: 6")


@pytest.mark.parametrize(
    ("cpuinfo", "slow"), [(ZEN4, True), (ZEN3, False), (ZEN5, False), (INTEL, False), ("", False)]
)
def test_only_zen4_with_avx512_is_recognised(cpuinfo: str, slow: bool) -> None:
    assert has_slow_avx512_sort(cpuinfo) is slow


def _cpuinfo(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return str(path)


def test_sets_the_variable_on_zen4_before_numpy_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cpu_features, "_numpy_version", lambda: (2, 4))
    environ: dict[str, str] = {}
    assert prefer_avx2_sorting(environ, _cpuinfo(tmp_path, ZEN4), numpy_loaded=False)
    assert environ == {"NPY_DISABLE_CPU_FEATURES": AVX512_FEATURES}


@pytest.mark.parametrize(
    ("cpuinfo", "environ", "numpy_loaded", "numpy_version"),
    [
        (INTEL, {}, False, (2, 4)),
        (ZEN4, {}, True, (2, 4)),  # too late: numpy read its settings already
        (ZEN4, {"NPY_DISABLE_CPU_FEATURES": ""}, False, (2, 4)),  # the user chose
        (ZEN4, {"NPY_ENABLE_CPU_FEATURES": "X86_V4"}, False, (2, 4)),
        (ZEN4, {}, False, (2, 3)),  # other feature names before numpy 2.4
    ],
)
def test_leaves_everything_else_alone(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cpuinfo: str,
    environ: dict[str, str],
    numpy_loaded: bool,
    numpy_version: tuple[int, ...],
) -> None:
    monkeypatch.setattr(cpu_features, "_numpy_version", lambda: numpy_version)
    before = dict(environ)
    assert not prefer_avx2_sorting(environ, _cpuinfo(tmp_path, cpuinfo), numpy_loaded=numpy_loaded)
    assert environ == before


def test_an_unreadable_cpuinfo_changes_nothing(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    assert not prefer_avx2_sorting(environ, str(tmp_path / "missing"), numpy_loaded=False)
    assert environ == {}


def test_numpy_honours_the_choice_in_a_new_process() -> None:
    """On a Zen 4 machine (the benchmark machine is one) numpy then dispatches no AVX-512."""
    report = subprocess.run(
        [
            sys.executable,
            "-c",
            "from sampling.cpu_features import prefer_avx2_sorting\n"
            "changed = prefer_avx2_sorting()\n"
            "from numpy._core._multiarray_umath import __cpu_features__ as features\n"
            "print(changed, features.get('AVX512_ICL'))",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={key: value for key, value in os.environ.items() if not key.startswith("NPY_")},
    ).stdout.split()
    if report[0] == "True":
        assert report[1] == "False", report
