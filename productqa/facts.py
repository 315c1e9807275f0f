"""Facts a record states, and the fact a question asks for: the rules behind factual answers.

A factual question ("Who wrote it?", "What ages is X for?", "How many recipes are in X?") is answered
with the part of the record that says it, cited; when the record does not say it, with "The catalog
record does not say ..." and what the record does give. 01_prepare builds such rows from the records'
own text with these rules, 03_evaluate scores answers with them, the chat reads the question with them.

Two rules per fact, for two kinds of row:
    find()      precise: the sentence that states the fact, and the words that are the fact (a name, an
                age range, a count). Precision first: a sentence it mislabels teaches the model to invent.
    mentions()  broad: any word that might state the fact. A not-said row is built only where the record
                has none of them, so that "does not say" is never taught for a record that says it.
Review quotes are not the product's text about itself: a sentence inside quotes is never taken for its
author, audience or setting (a blurb's "a writer of exceptional power" is about someone, not by them).

The wording of the questions and of the not-said sentence lives in prompts/facts.yaml.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterator

from productqa import grounded
from productqa.hashing import unit_hash
from productqa.paths import PROMPTS

MAX_WORDS = 40  # an answer's excerpt: the sentence that states the fact, cut to this many words around it
LANGUAGES = ("en", "pt")


@dataclass(frozen=True)
class Asked:
    """The fact a question asks for; `noun` is what a count counts ("recipes")."""
    kind: str
    noun: str | None = None


@dataclass(frozen=True)
class Found:
    """Where a record states a fact: `excerpt` is the answer's text (the record's own words), `words`
    the fact itself within it (what a right answer must contain)."""
    kind: str
    excerpt: str
    words: str
    noun: str | None = None


# ---------------------------------------------------------------------------------------------
# Sentences

_BOUNDARY = re.compile(r"""(?<=[.!?])(?<!\b[A-Z]\.)(?<!\b(?:Mr|Dr|St|Jr|Sr)\.)(?<!\bMrs\.)["'”’)]*\s+(?=["'“‘(]?[A-Z0-9])|(?<=[a-z]{2}[.!?])(?=[A-Z][a-z])|\s+--\s*(?=[A-Z])""")
_QUOTES = "\"'“”‘’"


def sentences(text: str) -> list[str]:
    """The text's sentences, also where a full stop is glued to the next one ("...War.Acclaimed")."""
    return [s.strip() for s in _BOUNDARY.split(text) if s and s.strip()]


def _quoted(sentence: str) -> bool:
    """A review quote or part of one: it opens with a quote mark, or sits inside an unclosed one."""
    return sentence[:1] in _QUOTES or sentence.count("\"") % 2 == 1 or (
        sentence.count("“") != sentence.count("”"))


def excerpt(sentence: str, start: int, end: int) -> str:
    """The sentence, or MAX_WORDS of its words that hold sentence[start:end], from as early as they can."""
    words = list(re.finditer(r"\S+", sentence))
    if len(words) <= MAX_WORDS:
        return sentence
    first = next(i for i, w in enumerate(words) if w.end() > start)
    last = next((i for i, w in enumerate(words) if w.end() >= end), len(words) - 1)
    begin = max(0, min(first, last - MAX_WORDS + 1))
    stop = min(len(words), begin + MAX_WORDS)
    return sentence[words[begin].start():words[stop - 1].end()]


# ---------------------------------------------------------------------------------------------
# The precise rules: each pattern's group "fact" is the fact's words

_NOT_NAMES = ("The|This|That|These|Those|In|It|Its|His|Her|Their|Our|With|From|When|Here|There|One|A|An|"
              "As|At|For|If|On|Of|Once|Now|Then|What|Who|How|Why|Written|Illustrated|New|Author|Edited|Story")
_NAME_WORD = r"(?:[A-Z][a-z]+(?:['’-][A-Z]?[a-z]+)*|[A-Z]\.(?:\s?[A-Z]\.)*)"
# two to four capitalized words ("Marilyn Sadler", "J. R. R. Tolkien", "Ursula K. Le Guin"), a small
# particle between them allowed ("Anna de Souza"), and the first not a common opening word
NAME = (rf"(?!(?:{_NOT_NAMES})\b){_NAME_WORD}(?:\s+(?:(?:de|da|van|von|der|del|la|le|du)\s+)?{_NAME_WORD}){{1,3}}"
        rf"(?![\w'’])")
_NUMBER = (r"(?:\d{1,3}(?:,\d{3})+|\d+|(?<!the )(?<!or )(?<!and )(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
           r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds|a hundred|one hundred))")
NOUNS = {  # what a count counts: the question's noun -> the words a record uses for it
    "recipes": ("recipes",), "pages": ("pages", "pp."), "pieces": ("pieces",), "stories": ("stories", "tales"),
    "poems": ("poems",), "songs": ("songs", "tracks"), "photographs": ("photographs", "photos", "pictures"),
    "illustrations": ("illustrations", "drawings"), "maps": ("maps",), "chapters": ("chapters",),
    "activities": ("activities",), "projects": ("projects",), "essays": ("essays",), "puzzles": ("puzzles",),
    "games": ("games",), "cards": ("cards",), "patterns": ("patterns",)}
_COUNTED_AS = {word: noun for noun, words in NOUNS.items() for word in words}  # "photos" -> "photographs"
_NOUN_OF = {"photos": "photographs", "pictures": "photographs", "tales": "stories", "tracks": "songs",
            "drawings": "illustrations", "receitas": "recipes", "páginas": "pages", "paginas": "pages",
            "peças": "pieces", "histórias": "stories", "poemas": "poems", "músicas": "songs",
            "canções": "songs", "fotos": "photographs", "fotografias": "photographs", "ilustrações": "illustrations",
            "mapas": "maps", "capítulos": "chapters", "atividades": "activities", "projetos": "projects",
            "ensaios": "essays", "jogos": "games", "cartas": "cards", "moldes": "patterns"}
MATERIALS = ("beech|oak|pine|birch|maple|walnut|cotton|polyester|nylon|leather|suede|wool|silk|linen|plastic|wood|wooden|bamboo|stainless steel|"
             "steel|aluminum|aluminium|metal|iron|brass|copper|glass|ceramic|porcelain|rubber|silicone|vinyl|"
             "canvas|denim|fleece|acrylic|resin|cardboard|foam|spandex|rayon|velvet|pewter|sterling silver")
COLOURS = ("black|white|red|blue|green|yellow|orange|pink|purple|violet|brown|beige|grey|gray|silver|gold|"
           "navy|ivory|cream|tan|turquoise|teal|burgundy|maroon|khaki")

# who said a quote: up to five capitalized words after it (a dash between allowed), then the next quote,
# a dash, a bracket or the end
_SOURCE = (r"\s*(?:[-–—]{1,2}\s*)?(?:[Tt]he\s+)?[A-Z][\w&.'’-]*(?:\s+(?:&|of|the|and|[A-Z][\w&.'’-]*)){0,5}"
           r"(?![\w'’])(?=\s*(?:$|[\"“‘'(]|[-–—]|[.!]?$))")

_RULES: dict[str, list[re.Pattern]] = {
    "author": [re.compile(p) for p in (
        rf"^By (?P<fact>{NAME})",
        rf"\b(?:[Ww]ritten|[Cc]o-written|[Aa]uthored|[Pp]enned|[Rr]etold) by (?P<fact>{NAME})",
        rf"^(?:[A-Z]?[\w'’-]+\s+){{0,3}}?(?:[Aa]uthor|[Nn]ovelist|[Ww]riter|[Pp]oet)\s+(?P<fact>{NAME})",
        rf"^(?P<fact>{NAME})\s+(?:\(\d{{4}}\s*[-–]\s*\d{{4}}\)\s+)?(?:is|was)\s+(?:the|an?|one of the)\s+"
        r"(?:[\w'’-]+\s+){0,5}?(?:author|writer|novelist|poet)s?\b",
        rf"^(?P<fact>{NAME})\s+(?:has written|wrote|is also the author)\b")],
    "illustrator": [re.compile(p) for p in (
        rf"\b(?:[Ii]llustrated|[Ii]llustrations|[Pp]ictures|[Dd]rawings|[Aa]rtwork) by (?P<fact>{NAME})",
        rf"\b[Ii]llustrator\s+(?P<fact>{NAME})",
        rf"^(?P<fact>{NAME})\s+(?:is|was)\s+(?:the|an?)\s+(?:[\w'’-]+\s+){{0,4}}?illustrator\b")],
    "audience": [re.compile(p) for p in (
        r"(?P<fact>(?:\b[Aa]ges|\([Aa]ge|\b[Aa]ged|\bfor age)\s+\d{1,2}(?:\s*(?:-|–|—|to)\s*(?:\d{1,2}|up)"
        r"|\s*(?:and|&)\s*(?:up|older|over)|\s*\+)?)",
        r"(?P<fact>\b(?:[Gg]rades?|Gr\.)\s*(?:\d{1,2}|K|PreK|Pre-K)(?:\s*(?:-|–|—|to)\s*(?:\d{1,2}|Up|up|Adult|adult))?)\b",
        r"(?P<fact>\b(?:PreS(?:chool)?|Preschool|Pre-?K|Kindergarten)\s*(?:-|–|—|to)\s*(?:Grade\s*)?(?:\d{1,2}|K)\b)",
        r"(?P<fact>\b\d{1,2}\s*(?:-|–|to)\s*\d{1,2}[- ]years?[- ]olds?)",
        r"\b(?i:perfect|ideal|designed|written|intended|aimed|recommended|suitable|great) (?:for|at) (?P<fact>"
        r"(?:all |young |new |beginning |adult |older |teen |first-time |curious )?(?:readers|children|kids|"
        r"beginners|students|teachers|parents|cooks|teens|teenagers|adults|families|fans|collectors|travel+ers|"
        r"gardeners|musicians|professionals)\b)")],
    "reviews": [re.compile(p) for p in (
        # a quote that opens with a capital and is followed by who said it ("... ' Sunday Times"), then the
        # next quote, a dash or the sentence's end: not an apostrophe ("Pepys' Diary is ...")
        rf"(?:^|(?<=[\s(]))(?P<fact>[\"“][A-Z][^\"“”]{{13,}}[^\s,][\"”]){_SOURCE}",
        rf"(?:^|(?<=[\s(]))(?P<fact>[‘'][A-Z](?:[^'‘’\n]|(?<=\w)['’](?=\w)){{13,}}[^\s,][’']){_SOURCE}",
        r"(?P<fact>[-–—]{2}\s*(?:Publishers Weekly|Kirkus Reviews|School Library Journal|Booklist|Library Journal|"
        r"Horn Book|The New York Times|New York Times Book Review))")],
    "setting": [re.compile(p) for p in (
        r"\b(?:[Ss]et|takes place|unfolds) (?P<fact>(?:in|on|during|among|against)\s+(?:(?:the|an?)\s+)?"
        r"(?:[A-Z][\w'’-]+(?:,?\s+[A-Z][\w'’-]+){0,3}|\d{2,4}s?\b|\d{1,2}(?:st|nd|rd|th)[- ][Cc]entury|"
        r"(?:[\w-]+\s+){0,3}(?:country|town|city|village|island|world|kingdom|planet|galaxy|century)\b))",)],
    "size": [re.compile(p) for p in (
        r"(?P<fact>\b\d+(?:\.\d+)?(?:\s+\d/\d)?\s*(?:x|×|by)\s*\d+(?:\.\d+)?(?:\s+\d/\d)?"
        r"(?:\s*(?:x|×|by)\s*\d+(?:\.\d+)?)?\s*(?:inches|inch|in\.|cm|mm|\"|”))",
        r"(?P<fact>\b\d+(?:\.\d+)?\s*(?:inches|inch|cm|mm|feet|ft|meters|metres)\s+(?:in\s+)?"
        r"(?:length|long|tall|high|wide|width|height|diameter|deep|depth|across)\b)",
        r"(?P<fact>\b[Mm]easures?\s+(?:approximately\s+|about\s+|roughly\s+)?\d+(?:\.\d+)?[^.;]{0,40}?"
        r"(?:inches|inch|cm|mm|feet|ft|\"))")],
    "material": [re.compile(p) for p in (
        rf"\b[Mm]ade (?:of|from|with|in) (?P<fact>(?:100% )?(?:[\w-]+ ){{0,2}}?(?:{MATERIALS}))\b",
        rf"(?P<fact>\b100% (?:{MATERIALS}))\b",
        rf"(?P<fact>\b(?:{MATERIALS}) (?:construction|fabric|body|case|frame|upper|shell|lining|handle|base))\b")],
    "colour": [re.compile(p) for p in (
        rf"\b(?:[Cc]olou?rs?:?|[Cc]omes in|[Aa]vailable in|[Ff]inished in)\s+(?P<fact>(?:(?:a|an)\s+)?"
        rf"(?:bright |dark |light |deep |pale |soft |matte |glossy |metallic )?(?:{COLOURS})"
        rf"(?:(?:,\s*|\s+(?:and|or)\s+)(?:[a-z]+\s+)?(?:{COLOURS}))*)\b",
        rf"(?P<fact>\b(?:{COLOURS})(?:\s+(?:and|&)\s+(?:{COLOURS}))?)\s+(?:colou?r|colou?red|finish)\b")],
    "price": [re.compile(p) for p in (
        r"\b(?:[Pp]rice[sd]?|[Pp]riced at|[Cc]osts?|[Rr]etails? (?:for|at)|MSRP)\s*(?:is|of|at|:)?\s*"
        r"(?P<fact>[$£€]\s?\d+(?:[.,]\d\d)?)",)],
}
_BETWEEN = r"(?:(?!(?:or|of|and|to|in|the)\s)[\w-]+\s+){0,2}?"  # "200 delicious recipes", not "one or two pages"
_COUNTS = re.compile(rf"\b(?<!author of )(?:more than |over |nearly |almost |some |about |around |just under |"
                     rf"well over )?(?P<fact>{_NUMBER}\s+{_BETWEEN}(?P<thing>"
                     rf"{'|'.join(re.escape(word) for word in _COUNTED_AS)}))(?!\w)", re.I)
_OWN_TEXT = {"author", "illustrator", "audience", "setting", "count"}  # never read inside a review quote
_WHOLE_TEXT = {"reviews"}
FACTS = ("author", "illustrator", "audience", "count", "reviews", "setting", "size", "material", "colour", "price")


# Words without which a kind's precise rules cannot fire (lower case): a description without any of them is
# not searched for it. 01_prepare reads every record, so this keeps the rules to a fraction of its time.
_NEEDS = {
    "author": ("by ", "author", "writer", "novelist", "poet", "wrote", "written", "penned", "retold"),
    "illustrator": ("illustrat", "pictures by", "drawings by", "artwork by"),
    "audience": ("age", "grade", "gr.", "preschool", "pre-k", "prek", "kindergarten", "year", "perfect", "ideal",
                 "designed", "written", "intended", "aimed", "recommended", "suitable", "great"),
    "count": ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "one", "two", "three", "four", "five", "six", "seven",
              "eight", "nine", "ten", "eleven", "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "sixty",
              "seventy", "eighty", "ninety", "hundred"),
    "reviews": ("\"", "'", "“", "‘", "--", "—", "–"),
    "setting": ("set ", "takes place", "unfolds"),
    "size": ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
    "material": ("made ", "100%", "construction", "fabric", "body", "case", "frame", "upper", "shell", "lining",
                 "handle", "base"),
    "colour": ("colo", "comes in", "available in", "finish"),
    "price": ("$", "£", "€"),
}


def _counts(sentence: str, noun: str | None) -> Iterator[tuple[str, re.Match]]:
    """The counts a sentence states ("200 delicious recipes"), each with the noun it counts; only those of
    `noun` when given (one outside NOUNS is looked for as the word itself)."""
    if noun is not None and noun not in NOUNS:
        rule = re.compile(rf"\b(?P<fact>{_NUMBER}\s+{_BETWEEN}{re.escape(noun)})(?!\w)", re.I)
        yield from ((noun, match) for match in rule.finditer(sentence))
        return
    for match in _COUNTS.finditer(sentence):
        counted = _COUNTED_AS[match.group("thing").casefold()]
        if noun is None or counted == noun:
            yield counted, match


def _found(kind: str, sentence: str, match: re.Match, noun: str | None) -> Found:
    start, end = match.span("fact")
    if kind in _WHOLE_TEXT:  # the quote and who said it
        return Found(kind, excerpt(match.group(0).strip(), 0, end - start), match.group("fact").strip(), noun)
    return Found(kind, excerpt(sentence, start, end), match.group("fact").strip(), noun)


def _matches(asked: Asked, description: str, split: list[str]) -> Iterator[Found]:
    """Every statement of the fact asked, sentence by sentence (`split`: the description's sentences)."""
    lower = description.casefold()
    if not any(word in lower for word in _NEEDS[asked.kind]):
        return
    # a review quote holds sentences of its own: its rules read the whole text
    for sentence in [description] if asked.kind in _WHOLE_TEXT else split:
        if asked.kind in _OWN_TEXT and _quoted(sentence):
            continue
        if asked.kind == "count":
            yield from (_found("count", sentence, match, noun) for noun, match in _counts(sentence, asked.noun))
            continue
        for rule in _RULES[asked.kind]:
            match = rule.search(sentence)
            if match:
                yield _found(asked.kind, sentence, match, None)
                break


def find(asked: Asked | str, description: str) -> Found | None:
    """The first sentence of the description that states the fact asked, cut to MAX_WORDS words, and
    the fact's words in it; None when no rule fires (the record may still say it: see mentions())."""
    asked = Asked(asked) if isinstance(asked, str) else asked
    return next(_matches(asked, description, sentences(description)), None)


def stated(description: str) -> list[Found]:
    """Every fact the precise rules find in the description: the first statement of each kind (of a
    count, of each noun)."""
    split = sentences(description)
    found = []
    for kind in FACTS:
        if kind == "count":
            nouns: dict[str, Found] = {}
            for fact in _matches(Asked("count"), description, split):
                nouns.setdefault(fact.noun, fact)
            found += nouns.values()
        elif fact := next(_matches(Asked(kind), description, split), None):
            found.append(fact)
    return found


# ---------------------------------------------------------------------------------------------
# The broad rules: any word that might state the fact

_MENTIONS = {kind: re.compile(p, 0 if kind in ("author", "setting") else re.I) for kind, p in {
    # a name anywhere may be the author's ("Poultry keeper Ruth Pellowe covers ..."): NAME is case-sensitive
    "author": NAME + r"|(?i:\b(?:by|authors?|wrote|writes|written|writer|writers|writing|novelist|poet|journalist|penned|"
              r"co-?authors?|edited|editor|biography|born|he|she|his|her|i)\b)",
    "illustrator": r"illustrat|\b(?:drawings?|pictures?|artist|art|artwork|painted|paintings?|photographs?|photos?)\b",
    "audience": r"\b(?:ages?|aged|grades?|years?|year-olds?|children|child|kids?|teens?|teenagers?|adults?|young|"
                r"youth|readers|beginners?|students?|preschool\w*|kindergarten|toddlers?|babies|baby|anyone|"
                r"everyone|those|people|perfect|ideal|designed|intended|aimed|suitable|recommended|families|family|"
                r"fans|parents|teachers|level)\b",
    "reviews": r"[\"“”‘’]|'\w[^']{10,}'|\b(?:reviews?|reviewers?|critics?|critical|praise[ds]?|acclaim\w*|hailed|"
               r"starred|bestsell\w*|weekly|journal|times|booklist|kirkus|magazine|post|guardian|observer|"
               r"telegraph|mail|express|independent|tribune|chronicle|herald|news|library|bulletin|brilliant|"
               r"wonderful|superb|masterpiece|compelling|riveting|gripping)\b",
    # a place named in capitals ("in Aberdeen") may be a setting: the capital is case-sensitive
    "setting": r"(?i:\b(?:set|setting|takes? place|unfolds|located|village|town|city|country|countries|island|"
               r"kingdom|world|century|war|era|period|planet|where)\b)|\b(?:in|on|at|across|through) (?:the )?"
               r"[A-Z][a-z]+|\b1\d{3}s?\b",
    "size": r"\b(?:sizes?|dimensions?|inch|inches|cm|mm|feet|foot|ft|meters?|metres?|tall|wide|long|length|height|"
            r"width|large|small|big|mini|miniature|compact|oversized?|pocket|measures?|measuring|pp|pages)\b|"
            r"\d\s*(?:x|×)\s*\d|\d\s*\"",
    "material": rf"\b(?:made|material|materials|fabric|construction|constructed|crafted|{MATERIALS})\b",
    "colour": rf"\b(?:colou?rs?|colou?red|colou?rful|hues?|shades?|{COLOURS})\b",
    "price": r"[$£€¥]|\b(?:price[sd]?|pricing|cost|costs|costly|usd|cheap|expensive|afford\w*|value|bargain|dollars?)\b",
}.items()}


def mentions(asked: Asked | str, description: str) -> bool:
    """Whether the description has any word that might state the fact asked: a not-said row is built
    only where it has none. A count mentions its noun, or any number of things."""
    asked = Asked(asked) if isinstance(asked, str) else asked
    if asked.kind == "count":
        words = NOUNS.get(asked.noun, (asked.noun,)) if asked.noun else tuple(_COUNTED_AS)
        return bool(re.search(rf"\b(?:{'|'.join(map(re.escape, words))}|number of|count)(?!\w)", description, re.I))
    return bool(_MENTIONS[asked.kind].search(description))


# ---------------------------------------------------------------------------------------------
# Reading the question

_ASKS = [(kind, re.compile(p, re.I)) for kind, p in (
    ("illustrator", r"\b(?:who (?:illustrated|drew)|illustrator|illustrations?\b.*\b(?:by|whose)|drew the pictures|"
                    r"illustrations for|quem (?:ilustrou|desenhou)|ilustrador|ilustrações,? são de quem)"),
    ("author", r"\b(?:who (?:wrote|penned|is the author|'?s the author|is the writer)|who(?:'s| is) (?:it|this) by|"
               r"author|writer|written by|quem (?:escreveu|é o autor|e o autor)|autora?\b|escrito por)"),
    ("price", r"\b(?:how much (?:does|is|do|did|would)|price|cost|sell for|quanto custa|preço|preco)\b"),
    ("audience", r"\b(?:what ages?|which ages?|age (?:range|group)|how old|what grades?|which grades?|reading level|"
                 r"who is (?:it|this|that|.+) for\b|who(?:'s| is) (?:it|this) (?:aimed|meant|intended|written) for|"
                 r"(?:suitable|appropriate|ok|good|right) for (?:children|kids|a child|my)|para quem|que idade|"
                 r"qual (?:é )?a idade|faixa et[aá]ria|para que idade)"),
    ("reviews", r"\b(?:reviews?|reviewed|reviewers?|critics?|what do (?:people|readers) (?:say|think)|"
                r"is (?:it|this) (?:any )?good|worth reading|cr[ií]ticas?|resenhas?|o que dizem|avalia[cç][oõ]es)"),
    ("setting", r"\b(?:where (?:is|does) (?:it|this|the story|the book|the novel|.+) (?:set|take place)|setting|"
                r"where does the story|onde se passa|ambientad[oa]|onde a história|cen[aá]rio)"),
    ("size", r"\b(?:how (?:big|large|tall|wide)|what size|dimensions?|measurements?|tamanho|dimens[oõ]es)\b"),
    ("material", r"\b(?:made (?:of|from)|materials?|fabric|feit[oa] de|de que (?:é )?feit[oa])\b"),
    ("colour", r"\b(?:colou?rs?|que cor|qual (?:é )?a cor|e a cor)\b"),
)]
_HOW_MANY = re.compile(r"\b(?:how many|quant[oa]s)\s+(\w+)", re.I)


def asked_fact(question: str) -> Asked | None:
    """The fact a question asks for, or None ("Tell me about X", "What is it about?": the description)."""
    count = _HOW_MANY.search(question)
    if count:
        noun = count.group(1).casefold()
        return Asked("count", _NOUN_OF.get(noun, noun))
    for kind, rule in _ASKS:
        if rule.search(question):
            return Asked(kind)
    return None


# ---------------------------------------------------------------------------------------------
# The wording: prompts/facts.yaml

@functools.lru_cache(maxsize=None)
def wording() -> dict:
    """prompts/facts.yaml, read once: a file that cannot be read, or lacks a fact, is one sentence."""
    import yaml
    from productqa.errors import UserError

    path = PROMPTS / "facts.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UserError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("kinds"), dict):
        raise UserError(f"{path} should map not_said, covers_nothing, and, nouns and kinds (see its comments)")
    missing = [kind for kind in FACTS if kind not in data["kinds"]]
    if missing:
        raise UserError(f"{path} has no wording for the fact(s) {', '.join(missing)}")
    return data


def noun_in(noun: str | None, language: str) -> str:
    """What a count counts, in the language asked ("" for the other facts)."""
    if noun is None:
        return ""
    return wording()["nouns"].get(noun, noun) if language == "pt" else noun


def not_said(asked: Asked, description: str, language: str = "en") -> str:
    """The answer when the record does not state the fact asked: what it does not say, and the facts it
    does state (those the precise rules find), or that it gives a general description."""
    data = wording()
    texts = data["kinds"][asked.kind][language]
    what = texts["what"].format(noun=noun_in(asked.noun, language))
    given = []
    for found in stated(description):
        if found.kind != asked.kind:
            phrase = data["kinds"][found.kind][language]["covers"].format(noun=noun_in(found.noun, language))
            if phrase not in given:
                given.append(phrase)
    given = given[:3]
    if not given:
        covers = data["covers_nothing"][language]
    elif len(given) == 1:
        covers = given[0]
    else:
        covers = f"{', '.join(given[:-1])} {data['and'][language]} {given[-1]}"
    return data["not_said"][language].format(what=what, covers=covers)


def not_said_openings() -> list[str]:
    """How the not-said sentence opens, in each language ("The catalog record does not say")."""
    return [text.split("{what}")[0].strip() for text in wording()["not_said"].values()]


@functools.lru_cache(maxsize=None)
def _plain_openings() -> tuple[str, ...]:
    return tuple(grounded.plain(text) for text in not_said_openings())


def is_not_said(answer: str) -> bool:
    """The answer says the record does not state what was asked (in any language of facts.yaml)."""
    return grounded.plain(answer).startswith(_plain_openings())


def phrasings(kind: str, language: str, which: str) -> list[str]:
    """The question phrasings of a fact: which is "ask", "follow", "ask_heldout" or "follow_heldout"."""
    return list(wording()["kinds"][kind][language][which])


def all_asking_templates() -> Iterator[str]:
    """Every phrasing that names the product ({title}), trained and held out, with {noun} filled in:
    the search reads questions phrased like them (productqa.question)."""
    data = wording()
    for kind in FACTS:
        for language in LANGUAGES:
            for which in ("ask", "ask_heldout"):
                for template in data["kinds"][kind][language][which]:
                    nouns = list(NOUNS) if "{noun}" in template else [None]
                    for noun in nouns:
                        yield template.replace("{noun}", noun_in(noun, language))


def question(asked: Asked, title: str | None, language: str, which: str, key: str, seed: int = 0) -> str:
    """One phrasing of the question (picked by a hash of key and seed), about `title` (None: a follow-up)."""
    options = phrasings(asked.kind, language, which)
    template = options[int(unit_hash("fact-question", str(seed), key) * len(options))]
    template = template.replace("{noun}", noun_in(asked.noun, language))
    return template if title is None else template.replace("{title}", title)
