"""Progress of long jobs (sweeps, ``reproduce``, ``sim protocol42``) on stderr.

On a terminal: a tqdm bar with rate and ETA. Otherwise (a log file, a pipe, CI): one plain line per
finished unit, ``<desc>: 3/12 cell (25%), 1m02s elapsed, ETA 3m06s``, so a log shows how far a job got
and how long the rest will take, without tqdm's carriage-return redraws.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class _Lines:
    """The non-terminal form: one line per update, with elapsed time and a linear ETA."""

    def __init__(self, total: int, desc: str, unit: str, stream: TextIO):
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.n = 0
        self.start = time.monotonic()

    def update(self, k: int = 1) -> None:
        self.n += k
        elapsed = time.monotonic() - self.start
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        eta = (f", ETA {_clock(elapsed * (self.total - self.n) / self.n)}"
               if 0 < self.n < self.total else "")
        self.stream.write(f"{self.desc}: {self.n}/{self.total} {self.unit}{pct}, {_clock(elapsed)} elapsed{eta}\n")
        self.stream.flush()

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Silent(_Lines):
    def update(self, k: int = 1) -> None:
        self.n += k


def progress(total: int, desc: str, *, unit: str = "run", enabled: bool = True, stream: TextIO | None = None):
    """A context manager with ``update(k=1)``: tqdm on a terminal, one line per update otherwise,
    nothing when ``enabled`` is False."""
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return _Silent(total, desc, unit, stream)
    if stream.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
    return _Lines(total, desc, unit, stream)
