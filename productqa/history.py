"""Fitting a conversation into the context window: pure functions, testable without a model.

A conversation is a system prompt plus turns ({"user": ..., "assistant": ...}); `count` is any
function from chat messages to a token count (the real one renders the GGUF's chat template and
tokenizes). Oldest turns go first; the system prompt and the new question stay; a question that is
too long on its own is cut.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from productqa.chat_format import message

Count = Callable[[list[dict]], int]


def to_messages(system: str | None, turns: list[dict], question: str) -> list[dict]:
    """System prompt, earlier turns, then the new question as role/content chat messages."""
    messages = [message("system", system)] if system else []
    for turn in turns:
        messages.append(message("user", turn["user"]))
        messages.append(message("assistant", turn["assistant"]))
    messages.append(message("user", question))
    return messages


@dataclass
class Fitted:
    messages: list[dict]
    dropped: int        # how many of the oldest turns were left out
    cut: bool           # whether the question itself was shortened
    tokens: int         # prompt tokens of `messages`


def fit(system: str | None, turns: list[dict], question: str, count: Count, budget: int) -> Fitted:
    """The longest suffix of `turns` that fits `budget` tokens with the question; cut the question if
    even that alone does not fit. Raises ValueError when the system prompt leaves no room at all."""
    kept = list(turns)
    while True:
        messages = to_messages(system, kept, question)
        tokens = count(messages)
        if tokens <= budget or not kept:
            break
        kept.pop(0)
    dropped = len(turns) - len(kept)
    if tokens <= budget:
        return Fitted(messages, dropped, False, tokens)
    # The question alone is too long: keep the longest prefix that fits (binary search on characters).
    low, high = 0, len(question)
    while low < high:
        mid = (low + high + 1) // 2
        if count(to_messages(system, [], question[:mid])) <= budget:
            low = mid
        else:
            high = mid - 1
    if low == 0:
        raise ValueError("the system prompt alone fills the context window")
    messages = to_messages(system, [], question[:low])
    return Fitted(messages, dropped, True, count(messages))
