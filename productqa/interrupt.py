"""Ctrl-C as a request, not an exception: the first press sets a flag that long work checks at a safe
point (between tokens of an answer, after a training step); a second press interrupts at once."""
from __future__ import annotations

import signal
import sys


class CtrlC:
    """`with CtrlC() as ctrl_c:` ... `if ctrl_c.requested:` (start()/stop() where a with block cannot
    span the work, as in a Trainer callback). Outside the main thread there are no signals: nothing
    is installed and the flag stays down."""

    def __init__(self, message: str | None = None):
        self.message, self.requested, self.previous = message, False, None

    def start(self) -> "CtrlC":
        self.requested = False
        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread
            self.previous = None
        return self

    def stop(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.message:
            print(f"\n{self.message}", file=sys.stderr, flush=True)

    def __enter__(self) -> "CtrlC":
        return self.start()

    def __exit__(self, *exc) -> bool:
        self.stop()
        return False
