"""One conversation format for training, evaluation, export and chat.

The prepared rows are ShareGPT ("human"/"gpt"); models take role/content messages rendered by the
model family's chat template. Gemma 3 has no system role: its template folds the system prompt into
the first user turn, and the same template travels into the GGUF and the Ollama Modelfile.
"""
from __future__ import annotations

from productqa.control_text import as_text
from productqa.errors import UserError
from productqa.families import for_model_type
from productqa.files import iter_jsonl

ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


def template_name(model_type: str, tokenizer=None) -> str | None:
    """The chat template to train with: the family's (productqa.families), else None to keep the
    tokenizer's own."""
    family = for_model_type(model_type)
    if family is None and getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(f"no chat template known for model type {model_type!r}")
    return family.template if family else None


def message(role: str, content: str) -> dict:
    """One chat message; its text is read as text, whatever control-token spellings it holds."""
    return {"role": role, "content": as_text(content)}


def prompt_messages(user: str, system_prompt: str | None = None) -> list[dict]:
    """The messages of a one-question prompt: what the chat sends and what training rows render to."""
    messages = [message("system", system_prompt)] if system_prompt else []
    return messages + [message("user", user)]


def _conversation_problem(row, fields: tuple[str, ...]) -> str | None:
    turns = row.get("conversations") if isinstance(row, dict) else None
    if not isinstance(turns, list) or not turns:
        return "no 'conversations' list"
    for turn in turns:
        if not isinstance(turn, dict) or turn.get("from") not in ROLES or not isinstance(turn.get("value"), str):
            return f"a turn needs 'from' ({', '.join(ROLES)}) and a text 'value'"
    if turns[-1]["from"] != "gpt":
        return "the last turn is not the answer (from 'gpt')"
    missing = [field for field in fields if not isinstance(row.get(field), str)]
    return f"no text {', '.join(map(repr, missing))}" if missing else None


def read_conversations(path, fields: tuple[str, ...] = ()):
    """The rows of a prepared split, one at a time: each a ShareGPT conversation that ends with its answer
    (and has the text `fields`), else one sentence naming the file and the row."""
    for number, row in enumerate(iter_jsonl(path), 1):
        problem = _conversation_problem(row, fields)
        if problem:
            raise UserError(f"{path} row {number}: {problem}; expected rows as scripts/01_prepare.py writes them")
        yield row


def to_messages(row: dict, system_prompt: str | None = None, with_answer: bool = True) -> list[dict]:
    """A prepared row -> chat messages; with_answer=False leaves the last answer off (for generation)."""
    turns = row["conversations"]
    if not with_answer and turns and turns[-1]["from"] == "gpt":
        turns = turns[:-1]
    if len(turns) == 1:
        return prompt_messages(turns[0]["value"], system_prompt)
    messages = [message("system", system_prompt)] if system_prompt else []
    return messages + [message(ROLES[turn["from"]], turn["value"]) for turn in turns]


def prompt_text(tokenizer, row: dict, system_prompt: str | None) -> str:
    """The chat-templated question, ending where the model's answer starts."""
    return tokenizer.apply_chat_template(to_messages(row, system_prompt, with_answer=False),
                                         tokenize=False, add_generation_prompt=True)


def full_text(tokenizer, row: dict, system_prompt: str | None) -> str:
    """The chat-templated conversation, answer included: what training renders."""
    return tokenizer.apply_chat_template(to_messages(row, system_prompt), tokenize=False)


def conversation_ids(tokenizer, row: dict, system_prompt: str | None) -> tuple[list[int], int]:
    """(token ids of the whole conversation, index of the first answer token).

    The answer is everything the model writes after the generation prompt: the reference text and the
    template's end-of-turn marker, exactly what training on responses only supervises. Evaluation scores
    it with the Hugging Face model, the export's gate with llama.cpp.
    """
    full = tokenizer(full_text(tokenizer, row, system_prompt), add_special_tokens=False)["input_ids"]
    prompt = tokenizer(prompt_text(tokenizer, row, system_prompt), add_special_tokens=False)["input_ids"]
    if full[:len(prompt)] != prompt or len(full) <= len(prompt):
        raise ValueError("the chat template renders the question differently with and without the answer")
    return full, len(prompt)


def answer_of(row: dict) -> str:
    return row["conversations"][-1]["value"]


def question_of(row: dict) -> str:
    """The question as a user asked it (a grounded row's first turn also carries the records)."""
    return row.get("question") or row["conversations"][0]["value"]
