"""`--profile`: py-spy on the servers under load, pyinstrument in the workers (see bench.worker).

py-spy samples the server processes from outside (`--subprocesses` follows uvicorn's workers)
while the load runs, and its collapsed stacks are summarised into the functions that hold the
most time, inclusive and self, as text that can be quoted in BENCHMARKS.md.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.procs import stop_group

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME_LINE = re.compile(r":\d+\)$")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start(pid: int, *, seconds: float, raw_path: Path) -> subprocess.Popen[bytes] | None:
    """Sample `pid` and its children for `seconds`; None when py-spy is not installed."""
    binary = py_spy()
    if binary is None:
        return None
    return subprocess.Popen(
        [
            binary,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            "200",
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(raw_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[bytes] | None, *, raw_path: Path, out_path: Path, title: str) -> None:
    if process is None:
        return
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stop_group(process, grace=5)
    if raw_path.exists():
        out_path.write_text(summarize(raw_path.read_text(), title=title))


def _function(frame: str) -> str:
    """`name (file.py:12)` → `name (file.py)`: time per function, not per line."""
    return _FRAME_LINE.sub(")", frame.strip())


def summarize(collapsed: str, *, title: str, top: int = 40) -> str:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        count = int(match["count"])
        frames = [_function(frame) for frame in match["stack"].split(";") if frame]
        # The first frames are the process and thread names py-spy adds.
        frames = [frame for frame in frames if "(" in frame]
        if not frames:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    if not total:
        return f"{title}: no samples\n"
    lines = [
        f"{title}: {total} samples (py-spy, all server processes, idle threads excluded)",
        "",
        "inclusive:",
    ]
    lines += [f"  {100 * count / total:5.1f}%  {frame}" for frame, count in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {100 * count / total:5.1f}%  {frame}" for frame, count in own.most_common(top)]
    return "\n".join(lines) + "\n"
