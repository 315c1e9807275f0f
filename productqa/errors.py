"""One clear sentence for a user's mistake instead of a traceback."""
from __future__ import annotations

import errno
import functools
import sys

# The disk (or the user's quota) is full: the user frees space or writes elsewhere; no traceback helps.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class UserError(Exception):
    """A problem the user can fix; the message names the file or flag to change."""


def cli(main):
    """Wrap a script's main(): UserError or a full disk -> one line on stderr and exit 2; Ctrl-C -> exit 130."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
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
