"""The range of every numeric flag 05_chat and 06_serve share, in one table, checked by one function;
the chat's /temp and the server's request fields are held to the same ranges."""
from __future__ import annotations

import math
from typing import NamedTuple

from productqa.errors import UserError


class Range(NamedTuple):
    low: float
    high: float | None = None  # None: no upper bound
    integer: bool = False
    why: str = ""  # said when a value is over `high`


MAX_CTX = 131_072  # the longest context of the model families served (Gemma 3, Qwen 3); more only fails to load

RANGES = {
    "k": Range(1, 20, True, "each record lengthens the prompt (1000 took 56 s to the first token) and the "
                            "product's own records come first"),
    "temperature": Range(0, 2),
    "top_p": Range(0.01, 1),
    "max_tokens": Range(1, None, True),
    "ctx": Range(64, MAX_CTX, True, "the model families served read no longer context"),
    "threads": Range(1, 1024, True),
    "port": Range(0, 65535, True),
    "queue": Range(1, 10_000, True),
}


def describe(name: str) -> str:
    """'from 0 to 2', 'a whole number from 1 to 20', 'a whole number of at least 1'."""
    low, high, integer, _ = RANGES[name]
    kind = "a whole number" if integer else "a number"
    return f"{kind} from {low:g} to {high:g}" if high is not None else f"{kind} of at least {low:g}"


def checked(name: str, value, flag: str | None = None):
    """`value` when it is in RANGES[name]; else UserError naming the flag (default --name), its range and why."""
    low, high, integer, why = RANGES[name]
    flag = flag or "--" + name.replace("_", "-")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or (integer and value != int(value)) or value < low or \
            (high is not None and value > high):
        over = number and high is not None and math.isfinite(value) and value > high and why
        raise UserError(f"{flag} must be {describe(name)}, not {value}" + (f": {why}" if over else ""))
    return value


def check(args) -> None:
    """Every flag of RANGES that `args` (argparse's Namespace) has and sets, in one sentence each."""
    for name in RANGES:
        value = getattr(args, name, None)
        if value is not None:
            checked(name, value)
