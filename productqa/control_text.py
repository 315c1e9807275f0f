"""Text from users and from the catalog is read as text, never as a model's control tokens.

A tokenizer parses a control token's spelling wherever it occurs in a prompt: a description or a
question holding "<end_of_turn>" would end the user's turn in the middle of the record (Hugging Face
tokenizers and llama.cpp alike), a "<start_of_turn>model" would open a forged answer, and a training row
would teach the model to stop inside a description. So every string shaped like a control token
(<...> and <|...|> names such as <eos>, <end_of_turn>, <unused12>, <|eot_id|>, </s>; [INST]-style and
[@BOS@]-style upper-case names in brackets) gets a WORD JOINER (U+2060, invisible) after its first
character: it reads and prints the same, and no tokenizer can match it as one token. Applied where
text enters the project: 01_prepare's cleaning (the catalog and the training rows) and every chat
message built for training, evaluation, the chat and the server (productqa.chat_format).
"""
from __future__ import annotations

import re

JOINER = "\u2060"
# <name>, </name>, <|name|>, <name_12>, <name:x>; [NAME], [/NAME], [@NAME@], and Gemma's [multimodal]: the
# shapes of the control tokens of every family in productqa.families and of Gemma's own (<pad>, <mask>,
# [@BOS@], <unused0>, ...). Bracketed words in lower or mixed case ("[Hardcover]", "[sic]") are left alone.
_CONTROL_SHAPED = re.compile(r"<(?=\|?/?[A-Za-z_][\w.:\-@]{0,63}\|?>)"
                             r"|\[(?=(?:/?@?[A-Z][A-Z0-9_]{0,63}@?|multimodal)\])")


def as_text(text: str) -> str:
    """`text` with every control-token-shaped string broken by an invisible joiner (idempotent)."""
    if "<" not in text and "[" not in text:
        return text
    return _CONTROL_SHAPED.sub(lambda m: m.group(0) + JOINER, text)
