"""One clear sentence for a user's mistake instead of a traceback."""
from __future__ import annotations

import functools
import sys


class UserError(Exception):
    """A problem the user can fix; the message names the file or flag to change."""


def cli(main):
    """Wrap a script's main(): UserError -> one line on stderr and exit 2; Ctrl-C -> exit 130."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper
