"""Peak memory of the current process, for the children that measure themselves."""

from __future__ import annotations

from pathlib import Path


def own_peak_rss_bytes() -> int:
    """This process's peak RSS (VmHWM). Not `ru_maxrss`: Linux carries that over from the parent
    across fork and exec, so a child of a big harness would report the harness's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
