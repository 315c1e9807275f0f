"""The offline terminal chat: the catalog finds the product's records, a GGUF on llama.cpp answers from them.

    model       productqa.served: export/latest's default form (a merged GGUF, or base + LoRA GGUF), checked
    session     ChatSession.ask, grounded (the default with a catalog): retrieve k records; if the
                product is in the catalog (a title match, exact, one typo off or clearly partial:
                code decides, not the model), put them in the trained prompt (productqa.grounded)
                and stream the answer, the model kept from answering "not in the catalog"
                (RefusalBan); several products with that title, or several a partial title may
                mean: list them ("did you mean") and let the next line pick one by number, uid or
                title; a question that names no product ("Who wrote it?") is about the product of
                the last answer (the focus: its records again, after the question that named it);
                nothing close: answer "not in the catalog" and invent nothing. Closed book: the
                question alone, with the conversation so far fitted into n_ctx.
    sources     the records put in the prompt; a star marks those the answer's text comes from
                (productqa.attribution, checked by code), and a note says when the model's own
                [n] citation points elsewhere; a cited number that no record has is never a source.
    compare     --compare: the base model (before fine-tuning) answers the same prompt first, labelled,
                so a user sees what fine-tuning changed for their own question
    REPL        repl(): commands, readline, Ctrl-C stops a generation, Ctrl-D or /exit leaves
"""
from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple

from productqa import attribution, facts, flags, grounded, history
from productqa.catalog import REASONS
from productqa.chat_format import prompt_messages
from productqa.control_text import as_text
from productqa.errors import UserError
from productqa.families import DEFAULT
from productqa.files import write_json
from productqa.interrupt import CtrlC
from productqa.question import content_words, is_quoted, names_product
from productqa.served import base_model_file, context_tokens, longest_context, open_llama, resolve_served
from productqa.stage_args import DEFAULT_CATALOG, ChatArgs, given
from productqa.titles import normalize_title

PROMPT = "you> "
HELP = """commands:
  /help              this list
  /reset             forget the conversation (the system prompt stays)
  /system TEXT       replace the system prompt (and reset)
  /temp X            sampling temperature (0 = greedy)
  /sources on|off    show the catalog records after each answer
  /grounded on|off   answer from the retrieved catalog records (off: closed book, from memory)
  /compare on|off    also answer with the base model (before fine-tuning), same records, labelled
  /stats             show load time, time to first token and tokens/s after each answer (toggle)
  /save FILE         write the conversation as JSON
  /exit              leave (Ctrl-D too); Ctrl-C stops a generation"""
COMMANDS = ("help", "reset", "system", "temp", "sources", "grounded", "compare", "stats", "save", "exit", "quit")
LABELS = {"base": "base model (before fine-tuning):", "tuned": "fine-tuned:"}
MAX_CHOICES = 9  # products of one title listed for the user to pick from
WHY = {"title": "title match", "partial": "partial title", "picked": "picked from the list",
       "focus": "follow-up: the product in focus", "shared": "several products share the title",
       "listed": "several products may be meant", "absent": "no such title in the catalog",
       "closed_book": "closed book"}


# ---------------------------------------------------------------------------------------------
# the stage: load the export and the catalog, then answer (-p, a terminal, or a pipe); the parts follow

def run_chat(args: ChatArgs | None = None, /, catalog_asked: bool = False, **keywords) -> int:
    """05_chat with `args` (ChatArgs, declared once in productqa.stage_args; or its fields as keywords, each
    replacing the default): -p answers one question (exit 2 when it gets no answer), --print-prompt prints
    its grounded message, else a terminal or a pipe. `catalog_asked`: the user named the catalog, so it
    must open (the default one may be missing: then the chat goes without sources)."""
    args = given(ChatArgs, args, keywords)
    prompt = args.prompt
    if prompt is not None:
        prompt = readable(prompt, "-p")
        if not prompt.strip():
            raise UserError("-p is empty: pass the question, e.g. -p 'Tell me about \"The Backyard Chicken Handbook\"'")
    catalog = args.catalog or DEFAULT_CATALOG
    if args.print_prompt:
        if prompt is None:
            raise UserError("--print-prompt needs the question: -p 'Tell me about ...'")
        print(grounded_prompt(catalog, prompt, args.k))
        return 0
    from productqa.prompts import read_system_prompt

    system = read_system_prompt(args.system) if args.system else None
    served = resolve_served(args.model)
    if system is None:
        system = served.system_prompt
    n_ctx, threads = args.ctx, args.threads
    started = time.perf_counter()
    llm = open_llama(served, n_ctx=n_ctx, threads=threads)

    def load_base():
        return open_llama(base_model_file(served, args.base_model), n_ctx=n_ctx, threads=threads,
                          chat_template=llm.metadata["tokenizer.chat_template"])

    try:
        session = ChatSession(llm, open_catalog(catalog, catalog_asked), system=system,
                              temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, k=args.k, grounded=not args.closed_book,
                              show_sources=args.sources, load_base=load_base, stop=served.family.stops)
        if args.compare:
            session.set_compare(True)
        warm_prefix(llm, session.count, system, session.prompt_budget())
    except BaseException:
        llm.close()
        raise
    load_s = time.perf_counter() - started
    repl = Repl(session, load_s, stats=args.stats, model=served.label, as_json=args.json)
    try:
        if prompt is not None:
            return 0 if repl.answer(prompt) else 2
        if sys.stdin.isatty():
            print(f"model {served.label} loaded in {load_s:.1f}s (context {session.n_ctx} tokens)", flush=True)
            return repl.interactive()
        return repl.piped(sys.stdin.buffer)  # bytes: a line that is not UTF-8 is one sentence, not the end
    finally:
        llm.close()
        if session.base_llm is not None:
            session.base_llm.close()


def shared_title(catalog, question: str, sources: list, k: int) -> tuple[str, list, list] | None:
    """When the title asked for (`sources`: the search's results) is that of several products (different
    descriptions), its title, those products (up to MAX_CHOICES) and the other records found: the chat
    lists them instead of answering about one chosen silently. None when the title is one product's."""
    if len({normalize_title(s.description) for s in sources if s.match}) < 2:
        return None
    found = catalog.search(question, max(k, MAX_CHOICES + k))
    products, seen = [], set()
    for source in found:
        key = normalize_title(source.description)
        if source.match and key not in seen:
            seen.add(key)
            products.append(source)
    return found[0].title, products[:MAX_CHOICES], [s for s in found if not s.match]


def follows_up(question: str, look) -> bool:
    """A question about the product in focus: it names none ("Who wrote it?" even though "It" is a title;
    quoted text always names one), or it names nothing the catalog found and does not read as naming a
    product ("Is it good for kids?", not "Tell me about Kids")."""
    if is_quoted(question):
        return False
    if not content_words(question):
        return True
    return not look.found and not names_product(question)


def format_candidates(candidates: list) -> str:
    """The products a partial title may mean, numbered for the user to pick one, with code's confidence."""
    lines = ["No product in the catalog has exactly that title. Did you mean:"]
    for number, candidate in enumerate(candidates, 1):
        source = candidate.source
        lines.append(f"  [{number}] {source.title} ({source.uid})  match {candidate.confidence:.0%}: "
                     f"{REASONS[candidate.reason]}")
    lines.append("Answer with its number, its uid or its title, or ask about another product.")
    return "\n".join(lines)


class RefusalBan:
    """A llama.cpp logits processor that keeps the model from starting its answer with a sentence code
    knows is wrong: the not-in-catalog sentence when code has found the product by its title (the product
    is in the catalog, a refusal would be false), and the opening of "The catalog record does not say ..."
    when the question asks for no one fact ("Tell me about X": the record always answers it). Only those
    exact token sequences are blocked (each one's next token, while the answer so far is a prefix of it);
    every other answer stays as likely as before."""

    def __init__(self, *sequences: list[int]):
        self.sequences, self.start = [list(s) for s in sequences if s], None

    def __call__(self, input_ids, scores):
        if self.start is None:
            self.start = len(input_ids)  # the first call sees the prompt only
        done = len(input_ids) - self.start
        so_far = list(input_ids[self.start:])
        for banned in self.sequences:
            if done < len(banned) and so_far == banned[:done]:
                scores[banned[done]] = -float("inf")
        return scores


class TemplateCounter:
    """Prompt tokens of a message list, rendered with the GGUF's own chat template."""

    def __init__(self, llm):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def text(token: int) -> str:
            return llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

        self.llm = llm
        self.formatter = Jinja2ChatFormatter(llm.metadata["tokenizer.chat_template"],
                                             eos_token=text(llm.token_eos()), bos_token=text(llm.token_bos()))

    def tokens(self, messages: list[dict]) -> list[int]:
        prompt = self.formatter(messages=messages).prompt
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def __call__(self, messages: list[dict]) -> int:
        return len(self.tokens(messages))


class _Probe(NamedTuple):
    uid: str
    title: str
    description: str


def warm_prefix(llm, count: TemplateCounter, system: str | None, budget: int | None = None) -> int:
    """Read the start every grounded prompt shares (system prompt, the records' heading) into llama.cpp's
    KV cache now, so the first question waits only for its own records and question (llama-cpp-python
    reuses the longest cached prefix of each prompt, so later questions share it too). Returns its tokens.
    UserError when that start does not fit `budget` (the prompt tokens allowed; default the context)."""
    one, two = (count.tokens(prompt_messages(grounded.user_turn("?", [_Probe(uid, title, "-")]), system))
                for uid, title in (("0", "A"), ("1", "Z")))
    shared = 0
    while shared < min(len(one), len(two)) - 1 and one[shared] == two[shared]:
        shared += 1
    ctx = context_tokens(llm)
    budget = ctx if budget is None else budget
    if len(one) >= budget:
        answer = f" and the {ctx - budget:,} kept for the answer (--max-tokens)" if budget < ctx else ""
        more = " or raise --ctx" if len(one) + ctx - budget < longest_context(llm) else ""
        raise UserError(f"a {ctx}-token context cannot hold even the system prompt and one record's frame "
                        f"({len(one):,} tokens){answer}: shorten the system prompt{more}")
    llm.reset()
    if shared:
        llm.eval(one[:shared])
    return shared


# ---------------------------------------------------------------------------------------------
# Commands and sources

@dataclass(frozen=True)
class Command:
    name: str
    arg: str = ""


def parse_command(line: str) -> Command | None:
    """'/temp 0.3' -> Command('temp', '0.3'); a line not starting with '/' is a question (None)."""
    line = line.strip()
    if not line.startswith("/") or line.startswith("//"):
        return None
    name, _, arg = line[1:].partition(" ")
    return Command(name.lower(), arg.strip())


def readable(line: bytes | str, where: str) -> str:
    """A line of input as text; UserError when it is not UTF-8. Bytes Python could not decode (in argv,
    or a stdin read with surrogateescape) come as lone surrogates, which no answer or JSON line can carry."""
    if isinstance(line, str):
        try:
            line.encode("utf-8")
            return line
        except UnicodeEncodeError:
            line = _bytes_of(line)
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{where} is not UTF-8 text (byte 0x{line[err.start]:02x} at byte {err.start + 1}): "
                        "send it as UTF-8") from None


def _bytes_of(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")  # the bytes as they came
    except UnicodeEncodeError:  # a surrogate no byte became
        return text.encode("utf-8", "surrogatepass")


def lossy(line: bytes | str) -> str:
    """A line that is not UTF-8 as text all the same (U+FFFD for each bad byte): to say which line it was."""
    return (line if isinstance(line, bytes) else _bytes_of(line)).decode("utf-8", "replace")


def on_off(arg: str) -> bool:
    value = arg.strip().lower()
    if value in ("on", "yes", "true", "1"):
        return True
    if value in ("off", "no", "false", "0"):
        return False
    raise ValueError(f"say on or off, not {arg!r}")


def format_sources(turn: "Turn") -> str:
    """The records the answer was given, those its text comes from marked; nearest records when none
    matched; nothing more when the answer is the list of products sharing a title."""
    if turn.choices:
        return ""
    if not turn.sources:
        return "Sources: no matching catalog record (this answer is not grounded in the catalog)."
    if not turn.grounded:
        head = "Nearest catalog records (none is the product asked about; not used):"
    elif turn.base is None:
        head = "Sources (the catalog records given with the question; * = the answer's text comes from it):"
    else:
        head = ("Sources (the catalog records given to both models; * = the fine-tuned answer's text comes "
                "from it, b = the base model's):")
    base_from = turn.base.supported if turn.base is not None and turn.grounded else None
    lines = [head]
    for rank, source in enumerate(turn.sources, 1):
        mark = ("*" if source.uid in turn.supported else " ") + ("" if base_from is None else
                                                                 "b" if source.uid in base_from else " ")
        lines.append(f" {mark}[{rank}] {source.uid}  {source.title}  (score {source.score:.2f})")
    if turn.grounded and turn.assistant and facts.is_not_said(turn.assistant):
        read = [f"[{n}]" for n, source in enumerate(turn.sources, 1) if source.uid in turn.cited]
        lines.append(f"  (the answer says what {' and '.join(read) or 'the records'} do{'es' * (len(read) == 1)} "
                     f"not state: nothing is quoted)")
    elif turn.grounded and turn.assistant and not turn.supported:
        lines.append("  (the answer's text comes from none of these records: do not trust it as the catalog's)")
    return "\n".join(lines)


def format_choices(title: str, choices: list) -> str:
    """The products that share a title, numbered for the user to pick one."""
    lines = [f'{len(choices)} products in the catalog are titled "{title}":']
    for number, source in enumerate(choices, 1):
        words = source.description.split()
        head = " ".join(words[:12]) + ("..." if len(words) > 12 else "")
        lines.append(f"  [{number}] {source.title} ({source.uid}): {head}")
    lines.append("Which one do you mean? Answer with its number (or its uid).")
    return "\n".join(lines)


def turn_json(turn: "Turn") -> dict:
    """The --json object of one answer: its sources are the records put in the prompt (none when the
    product is not in the catalog or the answer is closed book)."""
    sources = turn.sources if turn.grounded else []
    found = {"question": turn.user, "answer": turn.assistant, "grounded": turn.grounded, "stopped": turn.ended,
             "why": WHY[turn.why] if turn.why else None,
             "about": [{"uid": s.uid, "title": s.title} for s in turn.about],
             "sources": [{"uid": s.uid, "title": s.title, "score": s.score, "cited": s.uid in turn.cited,
                          "answer_from_it": s.uid in turn.supported} for s in sources]}
    asked = facts.asked_fact(turn.user) if turn.user else None
    if asked is not None:  # a factual question: which fact, and whether the answer says the record lacks it
        found["fact"] = {"kind": asked.kind, "noun": asked.noun, "not_said": facts.is_not_said(turn.assistant)}
    if turn.confidence is not None:
        found["confidence"] = turn.confidence
    if turn.choices:
        found["choices"] = [{"number": n, "uid": s.uid, "title": s.title,
                             **({"confidence": turn.confidences[n - 1]} if turn.confidences else {})}
                            for n, s in enumerate(turn.choices, 1)]
    if turn.base is not None:  # --compare: the base model's answer to the same prompt
        found["base"] = {"answer": turn.base.assistant, "stopped": turn.base.ended, "cited": turn.base.cited,
                         "answer_from": turn.base.supported}
    return found


# ---------------------------------------------------------------------------------------------
# The session

@dataclass
class Turn:
    user: str                   # what the user typed (after any cut)
    assistant: str              # the answer as generated (partial when stopped)
    prompt_user: str            # the user message the model saw (with the records when grounded)
    sources: list = field(default_factory=list)
    grounded: bool = False      # the records were put in the prompt (the product is in the catalog)
    closed_book: bool = False   # asked without records: part of the conversation the next closed-book turn sees
    why: str = ""               # a key of WHY: how the product was decided
    confidence: float | None = None  # a partial title: how sure code is of the product (catalog.closeness)
    about: list = field(default_factory=list)     # the records of the product the answer is about
    choices: list = field(default_factory=list)   # the products listed for the user to pick (not answered)
    confidences: list = field(default_factory=list)  # code's confidence in each choice of a "did you mean"
    cited: list = field(default_factory=list)     # uids of the records the answer cites by [n]
    uncited: list = field(default_factory=list)   # numbers the answer cites that no record shown has (never sources)
    supported: list = field(default_factory=list)  # uids of the records the answer's text comes from (starred)
    ended: bool = False         # the model ended the answer itself (or the catalog answered)
    stopped: bool = False       # Ctrl-C ended it
    messages: list = field(default_factory=list)  # what the model was given
    dropped: int = 0            # oldest turns left out to fit the context
    cut: bool = False           # the question was cut to fit
    prompt_tokens: int = 0
    tokens: int = 0             # generated tokens
    retrieval_s: float = 0.0    # the catalog search
    first_token_s: float = 0.0  # from the question to the first streamed text
    decode_s: float = 0.0       # from the first to the last token
    base: "Turn | None" = None  # --compare: the base model's answer to the same messages


class ChatSession:
    """One conversation with a loaded model; ask() streams an answer to `out` and records the turn."""

    def __init__(self, llm, catalog=None, system: str | None = None, temperature: float = 0.7,
                 top_p: float = 0.95, max_tokens: int = 512, k: int = 3, grounded: bool = True,
                 show_sources: bool = True, out=None, count=None, base_llm=None, load_base=None,
                 stop: tuple[str, ...] = DEFAULT.stops, ban_refusals: bool = True):
        self.llm, self.catalog, self.system = llm, catalog, system
        self.stop = list(stop)  # llama.cpp also stops on every end-of-generation token of the GGUF
        # --compare: the base model, loaded now or on the first /compare on (load_base() -> Llama)
        self.base_llm, self.load_base, self.compare = base_llm, load_base, base_llm is not None
        self.temperature, self.top_p, self.max_tokens, self.k = temperature, top_p, max_tokens, k
        self.grounded, self.show_sources = grounded, show_sources
        self.ban_refusals = ban_refusals  # False: the model alone decides (bench/real_bench.py measures both)
        self.out = out or sys.stdout
        self.count = count or TemplateCounter(llm)
        self.turns: list[Turn] = []
        self.n_ctx = context_tokens(llm)
        self.pending: tuple[str, list, list] | None = None  # (question, products listed, their neighbours)
        self.focus: tuple[str, list] | None = None  # (the question that named the product, its records shown)
        self._refusals: dict[int, list[int]] = {}  # id(llm) -> the not-in-catalog sentence's tokens

    def reset(self) -> None:
        self.turns.clear()
        self.pending = self.focus = None

    def prompt_budget(self) -> int:
        """Prompt tokens allowed: the window less room for the answer (max_tokens, at most half of it)."""
        return self.n_ctx - min(self.max_tokens, self.n_ctx // 2)

    def say(self, text: str = "", end: str = "\n") -> None:
        print(text, end=end, file=self.out, flush=True)

    def set_compare(self, on: bool) -> None:
        """/compare on|off: load the base model the first time it is needed."""
        if on and self.base_llm is None:
            if self.load_base is None:
                raise UserError("no base model to compare with")
            self.base_llm = self.load_base()
            warm_prefix(self.base_llm, self.count, self.system, self.prompt_budget())
        self.compare = on

    def ask(self, question: str) -> Turn:
        with CtrlC() as flag:  # Ctrl-C from here on stops this answer, not the program
            started = time.perf_counter()
            turn = self.prepare(question)
            turn.retrieval_s = time.perf_counter() - started
            if turn.choices:  # listed for the user to pick from: nothing to generate
                turn.first_token_s = turn.retrieval_s
                self.say(turn.assistant)
            elif turn.grounded or turn.closed_book:
                if self.compare and self.base_llm is not None:
                    turn.base = self._base_answer(turn, flag)
                    self.say(LABELS["tuned"])
                    started = time.perf_counter() - turn.retrieval_s  # the fine-tuned answer's own timings
                self._generate(turn, flag, started)
            else:  # the catalog has no such product: say so, invent nothing
                if self.compare:
                    self.say("[the catalog has no such product, so neither model is asked]")
                turn.first_token_s = time.perf_counter() - started
                self.say(turn.assistant)
            self.turns.append(turn)
            return turn

    def prepare(self, question: str) -> Turn:
        """The turn `question` starts, before any answer is generated: grounded (the records in its
        messages), closed book, a list to pick from (its text the answer), or "not in the catalog"."""
        if self.grounded and self.catalog is not None:
            turn = self._decide(question)
        else:
            sources = self.catalog.search(question, self.k) if self.catalog is not None else []
            turn = self._closed_book_turn(question, sources)
            turn.why = "closed_book"
        if not (turn.choices or turn.grounded or turn.closed_book):  # no such product: invent nothing
            turn.assistant, turn.ended = grounded.not_in_catalog(), True
        return turn

    def _decide(self, question: str) -> Turn:
        """Which product `question` is about, and so what the model is shown (the decisions, in order):
        a pick from the products just listed; a follow-up about the product in focus; a title match
        (exact, typo, partial: the focus moves to it), unless several products share the title (listed);
        several products a partial title may mean (listed); else none (focus cleared)."""
        picked = self._picked(question)
        self.pending = None
        if picked is not None:
            asked, sources = picked
            turn = self._grounded_turn(asked, sources, why="picked")
        else:
            look = self.catalog.lookup(question, self.k)
            if self.focus is not None and follows_up(question, look):
                earlier, sources = self.focus
                turn = self._grounded_turn(question, sources, earlier=earlier, why="focus")
                turn.user = question
                return turn
            if not look.found and look.candidates:  # the focus stays until the user picks or asks on
                return self._choice_turn(question, [c.source for c in look.candidates], look.sources,
                                         format_candidates(look.candidates), "listed",
                                         [c.confidence for c in look.candidates])
            if not look.found:  # nothing close: a later "Who wrote it?" is about no product
                self.focus = None
                return Turn(question, "", question, look.sources, why="absent")
            shared = shared_title(self.catalog, question, look.sources, self.k)
            if shared is not None:
                title, products, neighbours = shared
                return self._choice_turn(question, products, neighbours, format_choices(title, products), "shared")
            asked = question
            turn = self._grounded_turn(question, look.sources, why="partial" if look.sources[0].match == "partial"
                                       else "title")
            if turn.why == "partial":
                turn.confidence = look.candidates[0].confidence
        turn.user = question
        if turn.grounded:
            self.focus = (asked, turn.sources)
        return turn

    def _choice_turn(self, question: str, products: list, neighbours: list, text: str, why: str,
                     confidences: list | None = None) -> Turn:
        """List the products the question may mean; the next line may pick one (_picked)."""
        self.pending = (question, products, [s for s in neighbours if s.uid not in {p.uid for p in products}])
        return Turn(question, text, question, products, ended=True, why=why, choices=products,
                    confidences=confidences or [])

    def _picked(self, line: str) -> tuple[str, list] | None:
        """The listed question and its records when `line` picks one of the products just listed (by
        number, "[2]", uid or title): the product first, then the other records found that are not
        among those listed."""
        if self.pending is None:
            return None
        question, products, neighbours = self.pending
        text = line.strip().strip(".").strip()
        number = re.fullmatch(r"\[?(\d{1,2})\]?", text)
        if number and 1 <= int(number.group(1)) <= len(products):
            chosen = products[int(number.group(1)) - 1]
        else:
            by_title = [p for p in products if normalize_title(p.title) == normalize_title(text)]
            chosen = next((p for p in products if p.uid.casefold() == text.casefold()),
                          by_title[0] if len(by_title) == 1 else None)
        if chosen is None:
            return None
        return question, [dataclasses.replace(chosen, match=chosen.match or "picked")] + neighbours[:self.k - 1]

    def _refusal_ban(self, llm, question: str) -> RefusalBan:
        """The refusal banned; and "the record does not say" too when the question asks for no one fact."""
        if id(llm) not in self._refusals:
            tokens = lambda text: list(llm.tokenize(text.encode("utf-8"), add_bos=False))  # noqa: E731
            self._refusals[id(llm)] = (tokens(grounded.not_in_catalog()),
                                       [tokens(opening) for opening in facts.not_said_openings()])
        refusal, not_said = self._refusals[id(llm)]
        return RefusalBan(refusal, *(not_said if facts.asked_fact(question) is None else ()))

    def _base_answer(self, turn: Turn, flag: CtrlC) -> Turn:
        """The base model's answer to exactly the fine-tuned model's messages; Ctrl-C skips to the next."""
        base = dataclasses.replace(turn, assistant="", cited=[], uncited=[], supported=[], ended=False,
                                   stopped=False, base=None)
        self.say(LABELS["base"])
        self._generate(base, flag, time.perf_counter() - turn.retrieval_s, self.base_llm)
        flag.requested = False
        return base

    def _grounded_turn(self, question: str, sources: list, earlier: str | None = None, why: str = "title") -> Turn:
        """The trained prompt with the records (the product's first: code found it), after the `earlier`
        question for a follow-up; fewer records if k of them overflow the context."""
        turn = Turn(question, "", question, sources, why=why, about=[s for s in sources if s.match])
        shown = list(sources)
        while shown:
            prompt_user = grounded.user_turn(question, shown, earlier)
            messages = prompt_messages(prompt_user, self.system)
            tokens = self.count(messages)
            if tokens <= self.prompt_budget():
                break
            shown.pop()
        if not shown:
            raise UserError(self._too_long(question, tokens))
        if len(shown) < len(sources):
            self.say(f"[note: {len(shown)} of {len(sources)} records fit the {self.n_ctx}-token context]")
        turn.prompt_user, turn.sources, turn.prompt_tokens, turn.grounded = prompt_user, shown, tokens, True
        turn.messages = messages
        return turn

    def _too_long(self, question: str, with_record: int) -> str:
        """Why the grounded prompt cannot fit (`with_record`: its tokens with the product's first record):
        the question's length, or the record's; raise --ctx only when the model reads a context that long."""
        budget, alone = self.prompt_budget(), self.count(prompt_messages(question, self.system))
        need = max(alone, with_record)
        ctx = -(-min(need + self.max_tokens, 2 * need) // 1024) * 1024  # whose prompt room holds `need`
        more = f"raise --ctx to {ctx:,}" if ctx <= longest_context(self.llm) else ""
        room = f"the {budget:,} tokens a prompt may have in the {self.n_ctx:,}-token context"
        if alone > budget // 2:  # the question itself fills the room
            return (f"the question is {len(question):,} characters, {alone:,} tokens with the system prompt"
                    f"{'' if alone > budget else f' and {with_record:,} with the product record'}: more than "
                    f"{room}; shorten it" + (f" or {more}" if more else ""))
        return (f"the product's record does not fit {room} ({with_record:,} tokens with the question): "
                + (more or "this model cannot read it whole"))

    def _closed_book_turn(self, question: str, sources: list) -> Turn:
        """The question alone, after as much of the conversation as fits into n_ctx."""
        past = [{"user": t.prompt_user, "assistant": t.assistant} for t in self.turns if t.closed_book]
        try:
            fitted = history.fit(self.system, past, question, self.count, self.prompt_budget())
        except ValueError:  # the system prompt leaves no room (warm_prefix checked it with a record's frame)
            raise UserError(f"the system prompt fills the {self.prompt_budget():,} tokens a prompt may have in the "
                            f"{self.n_ctx:,}-token context: shorten it (/system) or raise --ctx") from None
        if fitted.cut:
            question = fitted.messages[-1]["content"]
            self.say(f"[note: your message was too long for the {self.n_ctx}-token context; "
                     f"only its first {len(question):,} characters were used]")
        if fitted.dropped:  # the oldest closed-book turns no longer fit: forget them
            gone = {id(t) for t in [t for t in self.turns if t.closed_book][:fitted.dropped]}
            self.turns = [t for t in self.turns if id(t) not in gone]
        turn = Turn(question, "", question, sources, closed_book=True, dropped=fitted.dropped, cut=fitted.cut,
                    prompt_tokens=fitted.tokens)
        turn.messages = fitted.messages
        return turn

    def _generate(self, turn: Turn, flag: CtrlC, started: float, llm=None) -> None:
        """Stream the answer to `out`; then check what it cites."""
        for text in self.stream(turn, started, llm, stop=lambda: flag.requested):
            self.say(text, end="")
        self.say(" [stopped]" if turn.stopped else "")
        if turn.grounded:
            self.check_citations(turn)

    def stream(self, turn: Turn, started: float, llm=None, stop=lambda: False) -> Iterator[str]:
        """The answer to turn.messages, piece by piece, until the model ends it or stop() says so; then
        the turn records the answer, whether the model ended it, its tokens and timings (from `started`)."""
        llm = llm or self.llm
        max_tokens = max(1, min(self.max_tokens, self.n_ctx - turn.prompt_tokens - 1))
        pieces, first, finish = [], None, None
        # the product was found by its title: it is in the catalog, so the model may not say it is not
        ban = {"logits_processor": [self._refusal_ban(llm, turn.user)]} if turn.grounded and self.ban_refusals else {}
        chunks = llm.create_chat_completion(
            turn.messages, stream=True, temperature=self.temperature, top_p=self.top_p,
            max_tokens=max_tokens, stop=self.stop, **ban)
        try:
            for chunk in chunks:
                if stop():
                    turn.stopped = True
                    break
                choice = chunk["choices"][0]
                finish = choice.get("finish_reason") or finish
                text = choice["delta"].get("content")
                if text:
                    if first is None:
                        first = time.perf_counter()
                    pieces.append(text)
                    yield text
        finally:
            chunks.close()
        ended = time.perf_counter()
        turn.assistant = "".join(pieces).strip()
        turn.ended = finish == "stop" and not turn.stopped
        turn.tokens = len(llm.tokenize(turn.assistant.encode("utf-8"), add_bos=False)) if pieces else 0
        turn.first_token_s = (first or ended) - started
        turn.decode_s = ended - (first or ended)

    def check_citations(self, turn: Turn) -> None:
        """What the answer cites by number, and which records its text comes from; a note when they differ."""
        turn.cited, turn.uncited = grounded.cited_sources(turn.assistant, turn.sources)
        asked = [source for source in turn.sources if source.match]  # the product found by its title
        support = [turn.sources[i] for i in attribution.supporting(
            turn.assistant, [source.description for source in turn.sources],
            asked={i for i, source in enumerate(turn.sources) if source.match})]
        turn.supported = [source.uid for source in support]
        numbers = {source.uid: n for n, source in enumerate(turn.sources, 1)}
        if asked and turn.supported and not any(source.match for source in support):
            self.say(f"[note: this answer's text comes from {', '.join(f'[{numbers[u]}]' for u in turn.supported)}, "
                     f"another product than {', '.join(f'[{numbers[s.uid]}] {s.title}' for s in asked)}, the one "
                     f"asked about: do not take it for that product's description]")
        if turn.uncited:
            self.say(f"[note: the answer cites {', '.join(f'[{n}]' for n in turn.uncited)}, but only "
                     f"[1]-[{len(turn.sources)}] were given: that is not a source]")
        wrong = [uid for uid in turn.cited if uid not in turn.supported]
        if facts.is_not_said(turn.assistant):  # it cites the record it read, and quotes none
            return
        if wrong and turn.supported:
            self.say(f"[note: the answer cites {', '.join(f'[{numbers[u]}]' for u in wrong)}, but its text comes "
                     f"from {', '.join(f'[{numbers[u]}]' for u in turn.supported)}: the Sources mark the latter]")
        elif wrong:
            self.say(f"[note: the answer cites {', '.join(f'[{numbers[u]}]' for u in wrong)}, but its text "
                     f"does not come from {'it' if len(wrong) == 1 else 'any of them'}]")

    def save(self, path: Path, **extra) -> Path:
        turns = [{**turn_json(t), "user": t.user, "interrupted": t.stopped,
                  "messages": t.messages + [{"role": "assistant", "content": t.assistant}]} for t in self.turns]
        write_json(Path(path), {**extra, "system": self.system, "temperature": self.temperature,
                                "grounded": self.grounded, "turns": turns})
        return Path(path)


def json_line(found: dict) -> str:
    """One --json object on one line, whatever line splitter reads it: the line and paragraph separators
    that JSON leaves raw in a string (U+0085, U+2028, U+2029) escaped too."""
    text = json.dumps(found, ensure_ascii=False)
    return text.replace("\x85", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def format_stats(turn: Turn, load_s: float | None = None) -> str:
    rate = (turn.tokens - 1) / turn.decode_s if turn.tokens > 1 and turn.decode_s > 0 else 0.0
    load = f"load {load_s:.2f} s | " if load_s is not None else ""
    return (f"[{load}prompt {turn.prompt_tokens} tokens | first token {turn.first_token_s:.2f} s | "
            f"{turn.tokens} tokens at {rate:.1f} tokens/s]")


# ---------------------------------------------------------------------------------------------
# The REPL

def _enable_readline() -> None:
    try:
        import readline
    except ImportError:  # e.g. Windows without pyreadline: plain input() still works
        return
    names = [f"/{name}" for name in COMMANDS]
    readline.set_completer(lambda text, state: ([n for n in names if n.startswith(text)] + [None])[state])
    readline.set_completer_delims(" \t\n")
    readline.parse_and_bind("tab: complete")


class Repl:
    def __init__(self, session: ChatSession, load_s: float, stats: bool = False, model: str = "",
                 as_json: bool = False):
        self.session, self.load_s, self.stats, self.model, self.as_json = session, load_s, stats, model, as_json

    def answer(self, question: str) -> bool:
        """Answer one question; False when it gets none (too long for the context, say): the chat goes on."""
        session = self.session
        try:
            turn = session.ask(question)
        except UserError as err:
            self.refuse(question, err)
            return False
        if turn.dropped:
            session.say(f"[note: dropped the {turn.dropped} oldest turn(s) to stay within "
                        f"{session.n_ctx} tokens]")
        if session.show_sources and session.catalog is not None and not turn.choices:
            session.say(format_sources(turn))
        if self.stats:
            if turn.base is not None:
                session.say("base model " + format_stats(turn.base))
            session.say(format_stats(turn, self.load_s))
        if self.as_json:
            session.say(json_line(turn_json(turn)))
        return True

    def refuse(self, question: str, err: UserError) -> None:
        """A line that gets no answer: its sentence; with --json, a JSON line with "error" instead, so that
        a program reading the output gets one JSON line per question, in order."""
        if self.as_json:
            self.session.say(json_line({"question": question, "error": str(err)}))
        else:
            self.session.say(f"[{err}]")

    def command(self, cmd: Command) -> bool:
        """Run one command; False means leave."""
        session = self.session
        if cmd.name in ("exit", "quit"):
            return False
        try:
            if cmd.name == "help":
                session.say(HELP)
            elif cmd.name == "reset":
                session.reset()
                session.say("[conversation cleared]")
            elif cmd.name == "system":
                if not cmd.arg:
                    session.say(f"system prompt: {session.system or '(none)'}")
                else:
                    warm_prefix(session.llm, session.count, cmd.arg, session.prompt_budget())  # too long: the old stays
                    session.system = cmd.arg
                    session.reset()
                    session.say("[system prompt set; conversation cleared]")
            elif cmd.name == "temp":
                try:
                    value = float(cmd.arg)
                except ValueError:
                    value = cmd.arg
                session.temperature = flags.checked("temperature", value, "the temperature")
                session.say(f"[temperature {value:g}]")
            elif cmd.name == "sources":
                session.show_sources = on_off(cmd.arg)
                if session.catalog is None:
                    session.say("[no catalog loaded: there are no sources to show]")
                else:
                    session.say(f"[sources {'on' if session.show_sources else 'off'}]")
            elif cmd.name == "grounded":
                session.grounded = on_off(cmd.arg)
                if session.catalog is None:
                    session.say("[no catalog loaded: answers are closed book]")
                else:
                    session.say(f"[grounded {'on' if session.grounded else 'off (closed book)'}]")
            elif cmd.name == "compare":
                session.set_compare(on_off(cmd.arg))
                session.say(f"[compare {'on: the base model answers first' if session.compare else 'off'}]")
            elif cmd.name == "stats":
                self.stats = not self.stats if not cmd.arg else on_off(cmd.arg)
                session.say(f"[stats {'on' if self.stats else 'off'}]")
            elif cmd.name == "save":
                if not cmd.arg:
                    raise ValueError("say where: /save FILE")
                path = session.save(Path(cmd.arg).expanduser(), model=self.model)
                session.say(f"[saved {len(session.turns)} turn(s) to {path}]")
            else:
                session.say(f"[unknown command /{cmd.name}: /help lists them]")
        except (ValueError, OSError, UserError) as err:
            session.say(f"[/{cmd.name}: {err}]")
        return True

    def line(self, text: bytes | str) -> bool:
        """Handle one input line; False means leave."""
        try:
            text = readable(text, "the line")
        except UserError as err:
            self.refuse(lossy(text), err)
            return True
        cmd = parse_command(text)
        if cmd is not None:
            return self.command(cmd)
        if text.strip():
            self.answer(text.strip())
        return True

    def interactive(self) -> int:
        _enable_readline()
        self.session.say("productqa chat: ask about a product by its title. /help lists commands, "
                         "Ctrl-C stops an answer, Ctrl-D or /exit leaves.")
        while True:
            try:
                text = input(PROMPT)
            except EOFError:
                self.session.say()
                return 0
            except KeyboardInterrupt:  # Ctrl-C at the prompt: a fresh line, like a shell
                self.session.say()
                continue
            except UnicodeDecodeError as err:  # a terminal that does not send UTF-8: say so, read on
                text = err.object
            if not self.line(text):
                return 0

    def piped(self, lines) -> int:
        """Questions from a pipe (lines of bytes or str): each shown after the prompt, as a terminal would
        echo it, so that the output reads as the conversation (not with --json, whose lines a program
        reads); a line that is not UTF-8 gets its sentence, and the next line is read."""
        for number, raw in enumerate(lines, 1):
            try:
                text = readable(raw, f"line {number}").rstrip("\r\n")
            except UserError as err:
                self.refuse(lossy(raw).rstrip("\r\n"), err)
                continue
            if text.strip() and not self.as_json:
                self.session.say(PROMPT + text)
            if not self.line(text):
                break
        return 0


def open_catalog(path: Path | None, asked: bool = False):
    """The catalog; one the user `asked` for must open (UserError: its answers would not be grounded in
    it, and a closed-book "not in the catalog" would be false). The default one missing or unreadable:
    None with one sentence on stderr, and the chat goes on without sources."""
    if path is None:
        return None
    from productqa.catalog import Catalog

    try:
        return Catalog(path)
    except UserError as err:
        if asked:
            raise UserError(f"{err} (or leave out --catalog to chat without sources)") from None
        print(f"note: {err}; chatting without sources.", file=sys.stderr)
        return None


def grounded_prompt(catalog_path: Path, question: str, k: int = 3) -> str:
    """The user message the model was trained on for `question`: for Ollama or any other runtime.

    Raises UserError when the catalog has no such product (the chat would answer "not in the catalog")."""
    from productqa.catalog import Catalog

    catalog = Catalog(catalog_path)
    try:
        look = catalog.lookup(question, k)
        sources = look.sources
        shared = shared_title(catalog, question, sources, k) if look.found else None
    finally:
        catalog.close()
    if not look.found and look.candidates:
        listed = "; ".join(f"{c.source.title} ({c.source.uid}, match {c.confidence:.0%})" for c in look.candidates)
        raise UserError(f"no product in {catalog_path} has exactly that title; did you mean: {listed}? "
                        f"Ask again with the title you mean")
    if not look.found:
        raise UserError(f"no product in {catalog_path} matches {question!r}: the answer is "
                        f"{grounded.not_in_catalog()!r}")
    if shared is not None:  # a prompt would show them all and leave the choice to the model: ask instead
        title, products, _ = shared
        listed = "; ".join(f"{p.uid} ({' '.join(p.description.split()[:6])}...)" for p in products)
        raise UserError(f'{len(products)} products in {catalog_path} are titled "{title}": {listed}; '
                        f"05_chat.py without --print-prompt lists them and lets you pick one")
    return as_text(grounded.user_turn(question, sources))  # pasted into another runtime: still read as text


