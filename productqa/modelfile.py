"""The Ollama Modelfile beside a GGUF, with a TEMPLATE that renders what training rendered.

Gemma 3's training template (Unsloth "gemma3") has no system role: it writes the system prompt,
then a blank line, at the start of the first user turn. The Go template (productqa.families) does the same, turn
by turn, and ends with the generation prompt `<start_of_turn>model\n`. Ollama adds <bos> itself
(the GGUF says add_bos_token), so the TEMPLATE does not write it. The training template trims each
message; Go templates cannot, so Ollama sends contents as typed (the REPL trims).

`render_go` is a small renderer for the subset of Go text/template this TEMPLATE uses (text,
{{- -}} trimming, $var := / =, range, if / else if / else, eq, .Field): the tests render the TEMPLATE
and compare it with the training chat template's own rendering.
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


# ---------------------------------------------------------------------------------------------
# a renderer for the Go template subset above (tests)

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)


def _lex(template: str) -> list[tuple[str, str]]:
    """[('text', s) | ('action', body)], with {{- and -}} whitespace trimming applied."""
    items, pos = [], 0
    for match in _ACTION.finditer(template):
        text = template[pos:match.start()]
        if match.group(1):
            text = text.rstrip()
        items.append(["text", text])
        items.append(["action", match.group(2), bool(match.group(3))])
        pos = match.end()
    items.append(["text", template[pos:]])
    for i, item in enumerate(items):
        if item[0] == "action" and item[2] and i + 1 < len(items):
            items[i + 1][1] = items[i + 1][1].lstrip()
    return [(item[0], item[1]) for item in items if item[0] == "action" or item[1]]


def _parse(items, pos=0, stop=("end",)):
    """-> (nodes, pos, the stopping action)."""
    nodes = []
    while pos < len(items):
        kind, body = items[pos]
        pos += 1
        if kind == "text":
            nodes.append(("text", body))
            continue
        head = body.split()[0]
        if head in stop or (head == "else" and "else" in stop):
            return nodes, pos, body
        if head == "range":
            inner, pos, _ = _parse(items, pos)
            nodes.append(("range", body[5:].strip(), inner))
        elif head == "if":
            branches, cond = [], body[2:].strip()
            while True:
                inner, pos, ending = _parse(items, pos, stop=("end", "else"))
                branches.append((cond, inner))
                if ending == "end":
                    break
                cond = ending[4:].strip()
                cond = cond[2:].strip() if cond.startswith("if ") else "true"
            nodes.append(("if", branches))
        else:
            nodes.append(("expr", body))
    return nodes, pos, None


def _args(expr: str) -> list[str]:
    return re.findall(r'"(?:[^"\\]|\\.)*"|\S+', expr)


def _value(token: str, dot, scopes):
    if token.startswith('"'):
        return bytes(token[1:-1], "utf-8").decode("unicode_escape")
    if token in ("true", "false"):
        return token == "true"
    if token.startswith("$"):
        for scope in reversed(scopes):
            if token in scope:
                return scope[token]
        raise KeyError(token)
    if token.startswith("."):
        value = dot
        for part in token[1:].split("."):
            if part:
                value = value[part] if isinstance(value, dict) else getattr(value, part)
        return value
    raise ValueError(f"unsupported token {token!r}")


def _eval(expr: str, dot, scopes):
    tokens = _args(expr)
    if tokens[0] == "eq":
        return _value(tokens[1], dot, scopes) == _value(tokens[2], dot, scopes)
    if tokens[0] == "not":
        return not _eval(" ".join(tokens[1:]), dot, scopes)
    if len(tokens) == 1:
        return _value(tokens[0], dot, scopes)
    raise ValueError(f"unsupported expression {expr!r}")


def _run(nodes, dot, scopes, out):
    for node in nodes:
        if node[0] == "text":
            out.append(node[1])
        elif node[0] == "range":
            for item in _eval(node[1], dot, scopes):
                scopes.append({})
                _run(node[2], item, scopes, out)
                scopes.pop()
        elif node[0] == "if":
            for cond, inner in node[1]:
                if _eval(cond, dot, scopes):
                    scopes.append({})
                    _run(inner, dot, scopes, out)
                    scopes.pop()
                    break
        else:
            assign = re.fullmatch(r"(\$\w+)\s*(:?=)\s*(.+)", node[1])
            if assign:
                name, op, expr = assign.groups()
                value = _eval(expr, dot, scopes)
                if op == ":=":
                    scopes[-1][name] = value
                else:  # = assigns to the innermost scope that declared it (Go semantics)
                    next(scope for scope in reversed(scopes) if name in scope)[name] = value
            else:
                value = _eval(node[1], dot, scopes)
                out.append("" if value is None else str(value))


def render_go(template: str, data: dict) -> str:
    """Render `template` (the Go subset above) with `data` as the dot, e.g. {"Messages": [...]}."""
    nodes, _, _ = _parse(_lex(template))
    out: list[str] = []
    _run(nodes, data, [{}], out)
    return "".join(out)


def ollama_messages(messages: list[dict]) -> dict:
    """role/content messages -> the dot Ollama gives a TEMPLATE ({"Messages": [{"Role", "Content"}]})."""
    return {"Messages": [{"Role": m["role"], "Content": m["content"]} for m in messages]}
