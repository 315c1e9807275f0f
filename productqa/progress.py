"""Progress that fits where it is shown: a live bar on a terminal, a few plain lines in a log or CI.

tqdm redraws its bar with carriage returns, which a log file or a CI console keeps as hundreds of
lines. progress() returns tqdm's bar when stderr is a terminal, and otherwise an object with the same
use (iterate it, or update(n) and close(); a context manager) that writes one plain line, formatted by
tqdm, every LOG_SECONDS seconds or every LOG_STEP of the total, whichever comes first, and a last one.
"""
from __future__ import annotations

import sys
import time
from typing import IO, Iterable

from tqdm import tqdm

LOG_SECONDS = 10.0  # at most one line this often in a log ...
LOG_STEP = 0.10     # ... or one each tenth of the total
_WITH_TOTAL = "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"
_WITHOUT_TOTAL = "{desc}: {n_fmt} [{elapsed}, {rate_fmt}]"


def progress(iterable: Iterable | None = None, *, total: float | None = None, desc: str = "", unit: str = "it",
             unit_scale: bool = False, enabled: bool = True, file: IO[str] | None = None, initial: float = 0):
    """A progress display over `iterable`, or one to update(n) by hand: see the module docstring."""
    file = file if file is not None else sys.stderr
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if not enabled or (hasattr(file, "isatty") and file.isatty()):
        return tqdm(iterable, total=total, desc=desc, unit=unit, unit_scale=unit_scale, file=file,
                    disable=not enabled, mininterval=0.5, dynamic_ncols=True, initial=initial)
    return LogProgress(iterable, total=total, desc=desc, unit=unit, unit_scale=unit_scale, file=file,
                       initial=initial)


class LogProgress:
    """tqdm's interface (n, total, update, set_postfix, close, iteration), written as a few whole lines."""

    def __init__(self, iterable: Iterable | None = None, *, total: float | None = None, desc: str = "",
                 unit: str = "it", unit_scale: bool = False, file: IO[str] | None = None,
                 seconds: float = LOG_SECONDS, step: float = LOG_STEP, clock=time.monotonic, initial: float = 0):
        self.iterable, self.total, self.desc, self.unit, self.unit_scale = iterable, total, desc, unit, unit_scale
        self.file = file if file is not None else sys.stderr
        self.seconds, self.step, self.clock = seconds, step, clock
        self.n, self.initial, self.postfix = initial, initial, ""
        self.started = self._last_time = clock()
        self._steps = max(1, round(1 / step))  # a line at each of these fractions of the total
        self._next_step = 1 + (int(initial * self._steps // total) if total else 0)
        self._written: float | None = initial  # n at the last line written (a resumed count is not news)
        self._closed = False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = self.clock()
        crossed = bool(self.total) and self.n * self._steps >= self._next_step * self.total
        if crossed or now - self._last_time >= self.seconds:
            self._write(now)

    def _write(self, now: float) -> None:
        bar_format = _WITH_TOTAL if self.total else _WITHOUT_TOTAL
        line = tqdm.format_meter(self.n, self.total, now - self.started, prefix=self.desc, unit=self.unit,
                                 unit_scale=self.unit_scale, bar_format=bar_format, initial=self.initial)
        print(line + (f", {self.postfix}" if self.postfix else ""), file=self.file, flush=True)
        self._last_time, self._written = now, self.n
        if self.total:
            while self._next_step * self.total <= self.n * self._steps:
                self._next_step += 1

    def set_postfix(self, values: dict | None = None, refresh: bool = False, **kwargs) -> None:
        """Figures shown at the end of the next line (tqdm's set_postfix)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in {**(values or {}), **kwargs}.items())

    def close(self) -> None:
        """The last line, unless the last one written already says it."""
        if not self._closed:
            self._closed = True
            if self._written != self.n:
                self._write(self.clock())

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
