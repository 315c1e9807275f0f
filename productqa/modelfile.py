"""The Ollama Modelfile beside a GGUF, with a TEMPLATE that renders what training rendered.

Gemma 3's training template (Unsloth "gemma3") has no system role: it writes the system prompt,
then a blank line, at the start of the first user turn. The Go template (productqa.families) does the same, turn
by turn, and ends with the generation prompt `<start_of_turn>model\n`. Ollama adds <bos> itself
(the GGUF says add_bos_token), so the TEMPLATE does not write it. The training template trims each
message; Go templates cannot, so Ollama sends contents as typed (the REPL trims).

tests/test_modelfile.py renders the TEMPLATE (tests/go_template.py) and compares it with the training
chat template's own rendering.
"""
from __future__ import annotations

import re
import textwrap

from productqa.families import for_template

# Sampling for short factual answers: near-greedy, with a mild repetition penalty.
SAMPLING = {"temperature": 0.2, "top_p": 0.9, "top_k": 40, "repeat_penalty": 1.1}


def template_for(chat_template_name: str | None) -> tuple[str, list[str]]:
    """(Go TEMPLATE, stop strings) for a training chat template name."""
    family = for_template(chat_template_name)
    if family is not None and family.ollama is not None:
        return family.ollama, list(family.stops)
    try:  # other families: Unsloth's own Ollama template for the same chat template
        from unsloth.chat_templates import CHAT_TEMPLATES

        _, eos, _, ollama = CHAT_TEMPLATES[chat_template_name]
        found = re.search(r'TEMPLATE """(.*?)"""', ollama, re.S)
        stops = re.findall(r'PARAMETER stop "(.*?)"', ollama) or [eos]
        return found.group(1), stops
    except (ImportError, KeyError, AttributeError, TypeError):
        raise ValueError(f"no Ollama template known for the chat template {chat_template_name!r}") from None


def _quote(text: str) -> str:
    return '"""' + text.replace('"""', '\\"\\"\\"') + '"""'


def modelfile_text(gguf_name: str, chat_template_name: str | None, system_prompt: str | None,
                   num_ctx: int | None = None, sampling: dict | None = None, why: str | None = None) -> str:
    """The Modelfile serving `gguf_name`; `why` (a sentence on the choice of file) becomes a comment."""
    template, stops = template_for(chat_template_name)
    lines = ["# Ollama: ollama create productqa -f Modelfile && ollama run productqa",
             "# Ollama has no catalog: a plain question is closed book (about a product it was not shown,",
             "# the model answers that it is not in the catalog). For an answer grounded in the catalog,",
             "# send the records as training did: python scripts/05_chat.py -p 'Tell me about ...' --print-prompt"]
    lines += [f"# {line}" for line in textwrap.wrap(why, 98)] if why else []
    lines += [f"FROM ./{gguf_name}", "", f"TEMPLATE {_quote(template)}", ""]
    lines += [f'PARAMETER stop "{stop}"' for stop in stops]
    for key, value in {**SAMPLING, **(sampling or {})}.items():
        lines.append(f"PARAMETER {key} {value}")
    if num_ctx:
        lines.append(f"PARAMETER num_ctx {num_ctx}")
    if system_prompt:
        lines += ["", f"SYSTEM {_quote(system_prompt)}"]
    return "\n".join(lines) + "\n"
