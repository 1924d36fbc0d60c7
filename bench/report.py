"""Results: one row per figure, always with the floor it is compared with, as JSON and Markdown."""

from __future__ import annotations

import json
import platform
import sqlite3
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Result:
    """A figure and its floor from the same run. `ratio` is value / floor (see `better`)."""

    name: str
    db: str
    value: float | None
    unit: str
    floor: float | None
    better: str = "higher"  # or "lower" (latency, memory): which way is good for `value`
    baseline: str = "floor"  # or "peer" (localstripe) or "ceiling" (the load generator)
    skipped: str | None = None
    target: str | None = None
    target_met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return round(self.value / self.floor, 3)

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name,
            "db": self.db,
            "value": self.value,
            "unit": self.unit,
            "floor": self.floor,
            "ratio": self.ratio,
            "better": self.better,
            "baseline": self.baseline,
        }
        if self.skipped is not None:
            row["skipped"] = self.skipped
        if self.target is not None:
            row["target"] = self.target
            row["target_met"] = self.target_met
        row.update(self.extra)
        return row


def skipped(name: str, db: str, unit: str, reason: str, **extra: Any) -> Result:
    return Result(name=name, db=db, value=None, unit=unit, floor=None, skipped=reason, extra=extra)


def _version(command: list[str]) -> str | None:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False).stdout
    except OSError:
        return None
    return out.strip().splitlines()[0] if out.strip() else None


def _package(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import os

    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from tenure.testing.pgcluster import find_pg_bin

    pg_bin = find_pg_bin()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _version([str(pg_bin / "postgres"), "--version"]) if pg_bin else None,
        "uvicorn": _package("uvicorn"),
        "httptools": _package("httptools"),
        "uvloop": _package("uvloop"),
        "starlette": _package("starlette"),
        "fastapi": _package("fastapi"),
        "sqlalchemy": _package("sqlalchemy"),
        "psycopg": _package("psycopg"),
        "duckdb": _package("duckdb"),
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def markdown(results: list[Result], *, meta: dict[str, Any]) -> str:
    """The results as one Markdown table, with the machine and the run's settings above it."""
    m = meta.get("machine", {})
    lines = [
        f"Run: `{meta.get('command', 'python -m bench')}` at {meta.get('started_at', '?')} "
        f"({meta.get('elapsed_s', '?')} s).",
        "",
        f"Machine: {m.get('cores')} cores ({m.get('cpu')}), {m.get('memory_gib')} GiB; "
        f"Python {m.get('python')}, "
        f"SQLite {m.get('sqlite')}, {m.get('postgresql')}, uvicorn {m.get('uvicorn')} "
        f"(httptools {m.get('httptools')}, uvloop {m.get('uvloop')}), FastAPI {m.get('fastapi')}, "
        f"Starlette {m.get('starlette')}, SQLAlchemy {m.get('sqlalchemy')}, psycopg {m.get('psycopg')}, "
        f"DuckDB {m.get('duckdb')}.",
        "",
        f"Machine load average (1, 5, 15 min) at start {meta.get('loadavg_1_5_15_start')}, "
        f"at end {meta.get('loadavg_1_5_15_end')}.",
        "",
        "`ratio` is Tenure ÷ baseline; `better` says which direction is good for Tenure's value.",
        "",
        "| figure | db | Tenure | baseline | ratio | better | target |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for result in results:
        if result.skipped is not None:
            lines.append(f"| {result.name} | {result.db} | skipped: {result.skipped} | | | | |")
            continue
        target = ""
        if result.target is not None:
            target = ("✅ " if result.target_met else "❌ ") + result.target
        baseline = _fmt(result.floor) + (f" ({result.baseline})" if result.baseline != "floor" else "")
        lines.append(
            f"| {result.name} | {result.db} | {_fmt(result.value)} {result.unit} | {baseline} | "
            f"{_fmt(result.ratio)}× | {result.better} | {target} |"
        )
    return "\n".join(lines) + "\n"


def write(results: list[Result], *, meta: dict[str, Any], directory: Path = RESULTS_DIR) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "latest.json"
    md_path = directory / "latest.md"
    json_path.write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    (directory / "latest-meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    md_path.write_text(markdown(results, meta=meta))
    return json_path, md_path
