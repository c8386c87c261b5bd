"""Shared output of the benchmark scripts: one JSON per result and one row per result in docs/results.md.

Stable API, imported by every script in this folder (they put this folder on
``sys.path`` first)::

    machine_info() -> dict
    write_result(name, command, wall_s, figures, summary=None) -> Path
    mean_and_spread(values, digits) -> (mean, std)
    training_parser(doc) -> argparse.ArgumentParser   # --name, --config, --data-root, --set
    print_table(rows)                                  # rows of dicts as a markdown table on stdout

``write_result`` writes ``benchmarks/results/<name>.json`` with the keys
``name, command, machine, date, git_commit, wall_s`` followed by the script's
figures, and inserts or replaces the row whose first cell is ``name`` in the table of
``docs/results.md`` (creating the file if needed). Several scripts share that
file, so the read-modify-write runs under an exclusive lock and leaves every
other row untouched. The row lists ``summary`` when given (a few headline
figures), else every scalar figure (nested dicts flattened to ``outer.inner``;
lists stay in the JSON only).

A record must be auditable and hold nothing of the machine it ran on: ``git_commit``
(``git rev-parse HEAD``) names the code that produced it, and every absolute path in
it is rewritten (:func:`portable`): relative to the checkout when inside it, else
``<last name>`` (``--data-root /data/market1501`` -> ``--data-root <market1501>``).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import re
import subprocess
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
RESULTS_DIR = BENCHMARKS_DIR / "results"
RESULTS_MD = REPO_ROOT / "docs" / "results.md"
RESERVED_KEYS = ("name", "command", "machine", "date", "git_commit", "wall_s")
#: An absolute path inside a string: a "/" at the start or after a space, "=" or a quote, up to the next one.
ABSOLUTE_PATH = re.compile(r"(?<![^\s='\"(])/[^\s'\",)]+")
TABLE_HEADER = "| benchmark | date | machine | wall (s) | figures |\n|---|---|---|---|---|\n"
RESULTS_MD_INTRO = (
    "# Benchmark results\n\n"
    "One row per result, written by `benchmarks/*.py` through `benchmarks/_common.py`. The exact command,\n"
    "the machine and every figure are in `benchmarks/results/<benchmark>.json`. Timings are wall-clock and\n"
    "the CPUs may have been shared with other work, so expect some noise.\n\n"
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """Where a figure was measured: usable cores, CPU model, GPU name (or "none"), and library versions."""
    import torch  # imported here so that scripts which never touch torch do not pay for it

    return {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": _cpu_model(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def git_commit() -> str | None:
    """The commit the checkout is at, so that a figure can be traced to its code; None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def _portable_path(match: re.Match) -> str:
    path = Path(os.path.normpath(match.group()))
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else f"<{path.name}>"


def portable(value: object) -> object:
    """``value`` with every absolute path in its strings made machine-independent (see the module's doc)."""
    if isinstance(value, str):
        return ABSOLUTE_PATH.sub(_portable_path, value)
    if isinstance(value, dict):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(item) for item in value]
    return value


def _scalar_figures(figures: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    for key, value in figures.items():
        if isinstance(value, dict):
            yield from _scalar_figures(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float, str, bool)) or value is None:
            yield f"{prefix}{key}", value


def _table_row(record: dict, summary: dict | None) -> str:
    machine = record["machine"]
    gpu = "no GPU" if machine["gpu"] == "none" else machine["gpu"]
    shown = summary if summary is not None else {k: v for k, v in record.items() if k not in RESERVED_KEYS}
    figures = ", ".join(f"{k}={v}" for k, v in _scalar_figures(shown))
    cells = [
        record["name"],
        record["date"][:10],
        f"{machine['cores']} cores, {gpu}",
        f"{record['wall_s']:.1f}",
    ]
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in [*cells, figures]) + " |\n"


def _upsert_row(markdown: str, name: str, row: str) -> str:
    """Replace the row of ``name`` in the results table, or append it to the table; nothing else changes."""
    if TABLE_HEADER not in markdown:
        intro = markdown.rstrip("\n") + "\n\n" if markdown.strip() else RESULTS_MD_INTRO
        markdown = intro + TABLE_HEADER
    lines = markdown.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(f"| {name} |"):
            lines[i] = row
            return "".join(lines)
    end = len(markdown[: markdown.index(TABLE_HEADER) + len(TABLE_HEADER)].splitlines())
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines.insert(end, row)
    return "".join(lines)


def write_result(name: str, command: str, wall_s: float, figures: dict, summary: dict | None = None) -> Path:
    """Write benchmarks/results/<name>.json, upsert its row in docs/results.md; returns the JSON path.

    ``summary`` picks the headline figures for the row (default: all scalar figures).
    """
    clashes = set(figures) & set(RESERVED_KEYS)
    if clashes:
        raise ValueError(f"figures may not use the reserved keys {sorted(clashes)}")
    record = portable(
        {
            "name": name,
            "command": command,
            "machine": machine_info(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit(),
            "wall_s": round(wall_s, 3),
            **figures,
        }
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    RESULTS_MD.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS_MD, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        updated = _upsert_row(handle.read(), name, _table_row(record, summary))
        handle.seek(0)
        handle.truncate()
        handle.write(updated)
    return path


def mean_and_spread(values: list[float], digits: int) -> tuple[float, float]:
    """Mean and population standard deviation, rounded: how every benchmark reports a spread over seeds.

    Population (not sample) spread, because the seeds are the whole set measured, not a
    sample from which to estimate a wider one.
    """
    return round(float(np.mean(values)), digits), round(float(np.std(values)), digits)


def training_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every training benchmark shares: the result's name, the config, the data and overrides."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="result name (benchmarks/results/<name>.json)")
    parser.add_argument("--config", required=True)
    parser.add_argument("--data-root")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="config override applied to every run (repeatable)",
    )
    return parser


def print_table(rows: list[dict]) -> None:
    """``rows`` as a markdown table on stdout, one column per key any row has."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(k, "")) for k in columns) + " |")
