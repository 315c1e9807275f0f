"""A renderer for the subset of Go text/template the Modelfile TEMPLATE uses (text, {{- -}} trimming,
range, if / else if / else, eq, not, $variables with := and =, .Field access): test code, so the
TEMPLATE can be compared with the training chat template's rendering without Ollama installed."""
import re


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
