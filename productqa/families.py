"""What each model family needs, in one table: every stage reads it, so adding a family is one entry.

    template        the Unsloth chat template trained with (it travels into the GGUF and the Modelfile)
    model_types     config.json model_type values of the family
    user, model     the text that opens a user turn and the model's turn: the answer-only loss trains
                    on what follows `model` up to the next `user`
    end_of_turn     the token that ends an answer: training texts end with it, generation stops on it
                    (None: the tokenizer's eos)
    stops           stop strings for runtimes that take them (llama.cpp chat, Ollama)
    ollama          the Ollama Go TEMPLATE; None: Unsloth's own for `template`

Gemma 3 has no system role: its template writes the system prompt, then a blank line, at the start of
the first user turn, and the Ollama TEMPLATE below does the same (Ollama adds <bos> itself).
"""
from __future__ import annotations

from dataclasses import dataclass

GEMMA3_OLLAMA = (
    '{{- $system := "" }}{{ $first := true }}\n'
    '{{- range .Messages }}\n'
    '{{- if eq .Role "system" }}{{ $system = .Content }}\n'
    '{{- else if eq .Role "user" }}<start_of_turn>user\n'
    '{{ if $first }}{{ if $system }}{{ $system }}\n\n{{ end }}{{ end }}{{ $first = false }}{{ .Content }}<end_of_turn>\n'
    '{{ else if eq .Role "assistant" }}<start_of_turn>model\n'
    '{{ .Content }}<end_of_turn>\n'
    '{{ end }}\n'
    '{{- end }}<start_of_turn>model\n'
)


@dataclass(frozen=True)
class Family:
    template: str
    model_types: tuple[str, ...]
    user: str
    model: str
    end_of_turn: str | None  # None: the tokenizer's own eos token ends a turn
    stops: tuple[str, ...]
    ollama: str | None = None


FAMILIES = {family.template: family for family in (
    Family("gemma3", ("gemma3", "gemma3_text"), "<start_of_turn>user\n", "<start_of_turn>model\n",
           "<end_of_turn>", ("<end_of_turn>", "<eos>"), GEMMA3_OLLAMA),
    Family("llama-3.1", ("llama",), "<|start_header_id|>user<|end_header_id|>\n\n",
           "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>", ("<|eot_id|>",)),
    Family("qwen-2.5", ("qwen2",), "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>", ("<|im_end|>",)),
    Family("qwen3", ("qwen3",), "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>", ("<|im_end|>",)),
    Family("mistral", ("mistral",), "[INST]", "[/INST]", None, ("</s>",)),
    Family("phi-3", ("phi3",), "<|user|>\n", "<|assistant|>\n", "<|end|>", ("<|end|>",)),
)}
DEFAULT = FAMILIES["gemma3"]  # the bundled base model's
END_OF_TURN_TOKENS = tuple(dict.fromkeys(f.end_of_turn for f in FAMILIES.values() if f.end_of_turn))
STOP_TOKENS = tuple(dict.fromkeys(stop for f in FAMILIES.values() for stop in f.stops))


def for_model_type(model_type: str) -> Family | None:
    """The family of a config.json model_type, None when unknown (the tokenizer's own template is kept)."""
    return next((f for f in FAMILIES.values() if model_type in f.model_types), None)


def for_template(name: str | None) -> Family | None:
    """The family of a training chat template name (meta.json / export.json "chat_template")."""
    return FAMILIES.get("gemma3" if name == "gemma-3" else name)


def stop_token_ids(tokenizer) -> list[int]:
    """Token ids that end an answer for a Hugging Face tokenizer: its eos plus every family's stop
    tokens that exist in its vocabulary (a fine-tuned Gemma's eos is <end_of_turn>; <eos> still ends)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    ids.update(vocab[token] for token in STOP_TOKENS if token in vocab)
    return sorted(ids)
