"""One clear sentence for a user's mistake instead of a traceback."""
from __future__ import annotations

import contextlib
import errno
import functools
import signal
import sys

# The disk (or the user's quota) is full: the user frees space or writes elsewhere; no traceback helps.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class UserError(Exception):
    """A problem the user can fix; the message names the file or flag to change."""


class Terminated(SystemExit):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt (but not caught as one)."""


@contextlib.contextmanager
def sigterm_raises():
    """SIGTERM raises Terminated, so that finally blocks and context managers remove temporary files as
    they do on Ctrl-C (a process pool's workers leave both signals to the main process: see
    prepare._worker_signals). Outside the main thread there are no signals: nothing is installed."""

    def handle(signum, frame):
        raise Terminated(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, handle)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def cli(main):
    """Wrap a script's main(): UserError or a full disk -> one line on stderr and exit 2; Ctrl-C -> exit 130;
    SIGTERM -> cleaned up as on Ctrl-C, exit 143."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            with sigterm_raises():
                return main(*args, **kwargs)
        except Terminated:
            print("\nterminated", file=sys.stderr)
            raise
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        except OSError as err:
            if err.errno not in _DISK_FULL:
                raise
            where = f" writing {err.filename}" if err.filename else ""
            print(f"error: the disk is full ({err.strerror}{where}): free some space, or point the stage's output "
                  "folder at another disk, and run again", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper
