"""Reading a question's phrasing: which of its words are question ("tell me about", "o que é", "for me")
and which name a product, what it quotes, and the runs of its words that may be the title asked for.

Separate from the search (productqa.catalog) because it is about language, not the catalog: the word lists
(English and Portuguese) and question templates are tuned on their own, and the chat reads a question's
phrasing with them (names_product, content_words, is_quoted) whatever the search finds.
"""
from __future__ import annotations

import re

from productqa.catalog_file import _MASK, _Q, word_hash
from productqa.errors import UserError
from productqa.titles import normalize_title


def _words(text: str) -> frozenset[str]:
    return frozenset(normalize_title(text).split())




def _fact_followups() -> list[str]:
    """The follow-up phrasings of prompts/facts.yaml ("Who illustrated it?", "Where is it set?"), trained
    and held out: their words ask about the product in focus, never name one."""
    from productqa import facts

    try:
        return [text.replace("{noun}", " ".join(facts.noun_in(noun, language) for noun in facts.NOUNS))
                for kind in facts.FACTS for language in facts.LANGUAGES
                for which in ("follow", "follow_heldout") for text in facts.phrasings(kind, language, which)]
    except UserError:  # no readable facts.yaml: the built-in words still read most follow-ups
        return []


# How questions are phrased around a title (English and Portuguese, normalized like titles). A run of a
# question's words is taken for the title asked for only when the words around it read as question:
#   before it: question words ending in a pivot ("tell me about", "o que é", "a description of"), then
#              articles or a kind of product ("the", "the book", "o livro");
#   after it:  only words like "please", "for me", "about", "por favor".
# So "The Quiet Harbor Cookbook", "Return to the Quiet Harbor" or "Into the Wild" never stand for
# "The Quiet Harbor" or "The Wild".
ARTICLES = _words("the a an o os um uma")  # not "as": English titles open with it
LEADING_WORDS = ARTICLES | _words("""book novel album film movie dvd cd game toy product item title series
livro filme disco jogo brinquedo produto item título série""")
STOPWORDS = _words("""a an the of and or to in on at by with from into for as is are was be it its this that
these those o os as um uma uns umas de da do das dos e é em no na nos nas ao aos à às que com por para pra""")
QUESTION_WORDS = _words("""about tell me describe description what whats which who how why where is are can could
would will should do does did please know i im i'm ive you your my say says said give show explain find look
looking looked search searching want need needs like info information details detail summary overview catalog
catalogue record entry product item called named titled title hi hello hey thanks thank there here some any
anything something more kind sort type good worth recommend review reviews just also really so wrote
sobre fale falar fala conte contar diga dizer diz descreva descrever descrição explique explicar mostre mostrar
procure procurando procuro quero queria gostaria preciso precisava saber sei conhece conhecer informação informações detalhes
mais algo algum alguma há tem existe existem produto catálogo chamado chamada intitulado título você voce vc
pode podes poderia me mim eu meu minha qual quais quem como onde quando porque olá oi obrigado obrigada
favor é são ser está isso isto esse essa este esta resumo bom boa vale""")
FRAME_WORDS = STOPWORDS | QUESTION_WORDS
# What a follow-up asks about a product already named ("Who is the author?", "How many pages?"): a question
# whose other words are all of these names no product, even when it reads like "what is the X".
FOLLOWUP_WORDS = _words("""author authors writer written illustrator illustrated illustrations pages page count
long length price cost edition editions format paperback hardcover hardback kindle audiobook publisher published
publication year date age ages old kids children child readers reader level suitable best plot story characters
subject topic recipes chapters tracks songs runtime minutes cast director starring artist narrator narrated read
size dimensions weight colour color colours colors material language languages series volume sequel many much
else other review rating summary everything full
autor autora escreveu escrito páginas pagina preço edição idade crianças editora ano tamanho cor idioma série
volume história enredo leitores ele ela eles elas dele dela deles delas""") | _words(" ".join(_fact_followups()))
PIVOTS = _words("""about describe describing is know wrote explain summarize called named titled whats
regarding sobre descreva descrever explique conhece é chamado chamada intitulado""")
PIVOT_PAIRS = {tuple(normalize_title(pair).split()) for pair in """description of|details of|detail of|details on|detail on|
information on|information of|info on|info of|review of|summary of|overview of|looking at|look at|looking for|
look for|search for|searching for|show me|tell me|heard of|descrição de|detalhes de|informações de|informação de|
resumo de|falar de|fale de|procurando por|procuro por|me dizer|me diga|me fale|me conte""".split("|")}
TAIL_WORDS = _words("""please for me about is it its what good any worth really exactly thanks thank you do does
say o que é por favor pra mim para sobre trata se bom boa isso obrigado obrigada""")
# Question words that rarely open or close a title: a run that starts or ends with one is tried last.
_EDGE_WORDS = _words("""about tell me describe description what whats is can could please know you say give
show explain info information details sobre fale conte diga dizer descreva o que é qual você voce pode""")

_BUILTIN_TEMPLATES = [
    "Tell me about {title}", "What is {title}", "What's {title}", "Describe {title}", "Who wrote {title}",
    "What can you tell me about {title}", "Can you describe {title} for me", "Do you know {title}",
    "Fale-me sobre {title}", "O que é {title}", "Descreva {title}", "Me fale sobre {title}",
    "O que você sabe sobre {title}", "Qual é a descrição de {title}",
]
_OPENERS, _CLOSERS = "\"“«„", "\"”»“"
_SINGLE_QUOTED = re.compile(r"(?:^|(?<=[\s(\[:]))['‘]([^\s'‘].*?)['’](?=[\s?!.,;:)\]]|$)")


def content_words(question: str) -> list[str]:
    """The question's words that are not question phrasing ("Who wrote it?" has none)."""
    return [w for w in normalize_title(question).split() if w not in FRAME_WORDS]


def is_quoted(question: str) -> bool:
    double, single = _quoted(question)
    return any(normalize_title(text) for text in double + single)


def names_product(question: str) -> bool:
    """The question names something as the product asked about: quoted text, or its first content word
    opens the question or follows question words ending in a pivot ("tell me about X", "what is the X"),
    articles aside. "Is it good for kids?", "How long is it?" or "Who is the author?" (FOLLOWUP_WORDS
    only) name nothing: they ask about the product already being discussed."""
    if is_quoted(question):
        return True
    words = normalize_title(question).split()
    first = next((i for i, w in enumerate(words) if w not in FRAME_WORDS), None)
    if first is None or all(w in FOLLOWUP_WORDS for w in words if w not in FRAME_WORDS):
        return False
    cut = first
    while cut > 0 and words[cut - 1] in LEADING_WORDS:
        cut -= 1
    return cut == 0 or words[cut - 1] in PIVOTS or (cut >= 2 and (words[cut - 2], words[cut - 1]) in PIVOT_PAIRS)


def _quoted(text: str) -> tuple[list[str], list[str]]:
    """The texts between double quotes: any opening quote (at the start, after a space or a bracket) with
    any closing quote after it (at the end, before a space or punctuation), so that an inch mark in a
    title ('Shorts, 5" Inseam') does not cut it; and the texts between single quotes, which may be
    apostrophes ("Rock 'n' Roll")."""
    opens = [i for i, ch in enumerate(text) if ch in _OPENERS and (i == 0 or text[i - 1].isspace()
                                                                   or text[i - 1] in "([{:")]
    closes = [i for i, ch in enumerate(text) if ch in _CLOSERS and (i == len(text) - 1 or text[i + 1].isspace()
                                                                    or text[i + 1] in ".,;:!?)]}")]
    return [text[i + 1:j] for i in opens[:8] for j in closes[-8:] if j > i + 1], _SINGLE_QUOTED.findall(text)


def _asked_words(words: list[str]) -> list[str]:
    """The words a question names its product with: from its first content word to its last and on to
    the closing phrasing ("for me", "please"), with the small words just before them that belong to a
    title rather than to the question ("Into the Wild": "into" and "wild"), articles left out ("Tell me
    about the Garden": "garden")."""
    content = [i for i, w in enumerate(words) if w not in FRAME_WORDS]
    if not content:
        return []
    first, last = content[0], content[-1] + 1
    while (first > 0 and words[first - 1] in STOPWORDS and words[first - 1] not in QUESTION_WORDS | PIVOTS
           and tuple(words[max(0, first - 2):first]) not in PIVOT_PAIRS):
        first -= 1
    while last < len(words) and words[last] not in TAIL_WORDS:  # "... Birthday Show for me": "show" too
        last += 1
    return list(dict.fromkeys(w for w in words[first:last] if w not in ARTICLES))


class _Question:
    """A question's words and the runs of them that may name the title asked for, each with a rank
    (lower is better): quoted text (and nothing else when there is some); then a question template's
    {title} or the whole question; then a run framed by question words (see ARTICLES); within a tier,
    runs that neither open nor close with a question word, then the longest, then the leftmost."""

    def __init__(self, text: str, words: list[str], templates, max_words: int):
        self.words = words
        self.hashes = [word_hash(w) for w in words]
        self.prefix_keys = [0]  # Horner keys of words[:i]: any run's key in O(1)
        for h in self.hashes:
            self.prefix_keys.append((self.prefix_keys[-1] * _Q + h) & _MASK)
        n = len(words)
        spans: dict[tuple[int, int], tuple] = {}
        double, single = _quoted(text)
        for quoted in double + single:
            phrase = normalize_title(quoted).split()
            for start in range(n - len(phrase) + 1):
                if phrase and words[start:start + len(phrase)] == phrase:
                    spans[start, start + len(phrase)] = (0, -len(phrase), start)
        if not spans or not any(normalize_title(quoted) for quoted in double):
            self._framed(spans, 0, n, 1)
            for before, after in templates:
                end = n - len(after)
                if end > len(before) and words[:len(before)] == before and words[end:] == after:
                    self._framed(spans, len(before), end, 1)
            tail_from = n  # words[tail_from:] are all TAIL_WORDS
            while tail_from > 0 and words[tail_from - 1] in TAIL_WORDS:
                tail_from -= 1
            framed = 0  # words[:framed] are all FRAME_WORDS
            while framed < n and words[framed] in FRAME_WORDS:
                framed += 1
            last_content = max((i for i, w in enumerate(words) if w not in FRAME_WORDS), default=-1)
            for start in range(min(n, last_content + 1)):
                if not self._before_ok(start, framed):
                    continue
                for end in range(max(start + 1, tail_from, last_content + 1), min(n, start + max_words) + 1):
                    if (start, end) not in spans:
                        edge = words[start] in _EDGE_WORDS or words[end - 1] in _EDGE_WORDS
                        spans[start, end] = (3 if edge else 2, start - end, start)
        # no run longer than the longest title (one more word: a typo may have split one)
        self.spans = {span: rank for span, rank in spans.items() if span[1] - span[0] <= max_words + 1}
        self.covered = {i for start, end in self.spans for i in range(start, end)}

    def _framed(self, spans, start: int, end: int, tier: int) -> None:
        """The run [start, end), and the runs inside it less articles before or question words after."""
        words = self.words
        left = start
        while True:
            right = end
            while right > left:
                spans.setdefault((left, right), (tier, left - right, left))
                if words[right - 1] not in TAIL_WORDS:
                    break
                right -= 1
            if left >= end - 1 or words[left] not in LEADING_WORDS:
                break
            left += 1

    def _before_ok(self, start: int, framed: int) -> bool:
        """The words before `start` read as a question: question words ending in a pivot, then articles."""
        words = self.words
        cut = start
        while cut > 0 and words[cut - 1] in LEADING_WORDS:
            cut -= 1
        if cut == 0:
            return True
        if cut > framed:
            return False
        return words[cut - 1] in PIVOTS or (cut >= 2 and (words[cut - 2], words[cut - 1]) in PIVOT_PAIRS)

    def text(self, span) -> str:
        return " ".join(self.words[span[0]:span[1]])

    def key(self, start: int, end: int) -> int:
        """title_key(words[start:end])."""
        return (self.prefix_keys[end] - self.prefix_keys[start] * pow(_Q, end - start, 1 << 64)) & _MASK


def _template_words(template: str) -> tuple[list[str], list[str]]:
    before, _, after = template.partition("{title}")
    return normalize_title(before).split(), normalize_title(after).split()


def _read_templates() -> list[str]:
    """Every question phrasing in prompts/, those held out of training included: they are kept from the
    model so that 03_evaluate measures recall, not a memorized question; the search is code, and must
    read a question however it is phrased."""
    from productqa.facts import all_asking_templates
    from productqa.prompts import read_heldout_templates, read_question_templates

    templates = []
    for read in (read_question_templates, read_heldout_templates, lambda: list(all_asking_templates())):
        try:
            templates += read()
        except (UserError, OSError):
            pass
    return templates
