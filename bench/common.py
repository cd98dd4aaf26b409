"""Shared pieces of the benchmarks: whole-process timing, data files, the machine.

Every tool is timed as a whole process (interpreter start-up and imports
included), which is what a user of a command-line tool waits for.  Peak RSS
is the child's own ``ru_maxrss`` from ``wait4``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("MINYI_PEERS_DIR", "/work/shared/peers"))
PEER_PYTHON = Path(
    os.environ.get("MINYI_PEER_PYTHON", str(Path.home() / ".peers" / "bin" / "python"))
)
DATA = Path(os.environ.get("MINYI_PEER_DATA", str(Path.home() / "peer-data")))


@dataclass(frozen=True)
class Run:
    """One timed process."""

    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Series:
    """Repeated runs of one command."""

    name: str
    command: tuple[str, ...]
    runs: tuple[Run, ...]

    @property
    def median(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def best(self) -> float:
        return min(run.seconds for run in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(run.peak_rss_mb for run in self.runs)

    @property
    def last(self) -> Run:
        return self.runs[-1]

    def shell(self) -> str:
        return shlex.join(self.command).replace(str(Path.home()), "~")


def run_process(command: list[str] | tuple[str, ...], *, cwd: Path = ROOT) -> Run:
    """Run ``command`` to completion; raise SystemExit with its stderr when it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=out, stderr=err, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    if process.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({process.returncode}):\n{stderr}")
    return Run(seconds, usage.ru_maxrss / 1024, stdout, stderr)


def interleaved(
    commands: list[tuple[str, list[str]]], repeat: int, warmup: int = 0
) -> list[Series]:
    """Run the commands in turn (A B A B …) ``repeat`` times each.

    Interleaving spreads any background load evenly over the tools compared.  With
    ``warmup``, each command first runs that many times untimed (as ``hyperfine
    --warmup``): the first process to touch a few hundred MB after the machine sat
    idle pays for the host backing that memory afresh, which is the virtual
    machine's cost, not the tool's.
    """
    for _ in range(warmup):
        for _name, command in commands:
            run_process(command)
    runs: dict[str, list[Run]] = {name: [] for name, _ in commands}
    for _ in range(repeat):
        for name, command in commands:
            runs[name].append(run_process(command))
    return [Series(name, tuple(command), tuple(runs[name])) for name, command in commands]


def ensure_frame(path: Path, rows: int = 10_000_000, strata: int = 1000) -> Path:
    """Generate the synthetic frame with the shared generator when it is missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        generator = PEERS / "gen_frame.py"
        run_process([str(PEER_PYTHON), str(generator), str(rows), str(strata), str(path)])
    return path


def ensure_responses(
    path: Path, rows: int = 1_000_000, strata: int = 100, units: int = 100
) -> Path:
    """Generate the synthetic response file with the shared generator when it is missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        generator = PEERS / "gen_responses.py"
        run_process(
            [str(PEER_PYTHON), str(generator), str(rows), str(strata), str(units), str(path)]
        )
    return path


def python_reference_ms(repeat: int = 7) -> float:
    """CPU milliseconds this machine needs for a fixed pure-Python workload (median).

    Machines of the same kind differ: the same code on the same benchmark has
    measured twice as fast on one as on another.  This figure travels with every
    report, so figures from two runs compare in proportion to it (lower: faster).
    CPU time of this process, so waiting for other processes does not count.
    """

    def workload() -> int:
        table: dict[str, int] = {}
        for number in range(300_000):
            key = f"unit-{number % 1000}"
            table[key] = table.get(key, 0) + number * 3 // 2
        return sorted(table.values())[-1]

    times = []
    for _ in range(repeat):
        started = time.process_time()
        workload()
        times.append(time.process_time() - started)
    return 1000 * statistics.median(times)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = "unknown"
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    versions = run_process(
        [
            sys.executable,
            "-c",
            "import numpy, pyarrow, scipy, statsmodels, sys;"
            "print(sys.version.split()[0], numpy.__version__, pyarrow.__version__,"
            " scipy.__version__, statsmodels.__version__)",
        ]
    ).stdout.split()
    peers = "not installed"
    if PEER_PYTHON.exists():
        peers = run_process(
            [
                str(PEER_PYTHON),
                "-c",
                "from importlib.metadata import version as v;"
                "print(', '.join(f'{p} {v(p)}' for p in ('svy', 'samplics', 'polars', 'pandas')))",
            ]
        ).stdout.strip()
    r_version = "not installed"
    with contextlib.suppress(SystemExit, FileNotFoundError):
        r_version = run_process(
            [
                "Rscript",
                "-e",
                "cat(R.version.string, '; survey', as.character(packageVersion('survey')),"
                " '; sampling', as.character(packageVersion('sampling')))",
            ]
        ).stdout.strip()
    return {
        "CPU": cpu,
        "cores (nproc)": str(len(os.sched_getaffinity(0))),
        "memory": memory,
        "OS": f"{platform.system()} {platform.release()}",
        "minyi Python / numpy / pyarrow / scipy / statsmodels": " / ".join(versions),
        "peers (Python)": peers,
        "R": r_version,
        "load average at start": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "Python reference workload (CPU ms, lower is faster)": f"{python_reference_ms():.0f}",
    }


def runs_and_commands(series: Sequence[Series]) -> list[str]:
    """Report lines: every run's wall time in order, then the exact commands."""
    return [
        "Runs in order (s): "
        + "; ".join(
            f"{each.name} " + ", ".join(f"{run.seconds:.2f}" for run in each.runs)
            for each in series
        ),
        "",
        "Commands:",
        "",
        "```",
        *(each.shell() for each in series),
        "```",
    ]
