"""Prompt text lives in prompts/ as plain files; this module reads it and picks from it."""
from __future__ import annotations

from pathlib import Path

from productqa.errors import UserError
from productqa.hashing import digest8
from productqa.paths import PROMPTS


def read_prompt(path: Path) -> str:
    """A prompt file's text: lines starting with '#' are comments, surrounding blank lines are cut."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise UserError(f"cannot read the prompt file {path}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise UserError(f"the prompt file {path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} at byte "
                        f"{err.start + 1}): save it as UTF-8") from None
    return "\n".join(line for line in text.splitlines() if not line.startswith("#")).strip()


def read_system_prompt(path: Path = PROMPTS / "system.txt") -> str:
    return read_prompt(path)


HELDOUT = "questions_heldout"  # prompts/questions_heldout*.txt: phrasings kept out of training


def _read_templates(paths: list[Path]) -> list[str]:
    """Every non-comment line of the files, in order; each must have a {title} placeholder."""
    templates = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                if "{title}" not in line:
                    raise UserError(f"{path}: the template {line!r} has no {{title}} placeholder")
                templates.append(line)
    return templates


def read_question_templates(folder: Path = PROMPTS) -> list[str]:
    """The training phrasings: prompts/questions_*.txt in file-name order (English, Portuguese),
    the held-out files (questions_heldout*.txt) excepted."""
    paths = [p for p in sorted(Path(folder).glob("questions_*.txt")) if not p.name.startswith(HELDOUT)]
    templates = _read_templates(paths)
    if not templates:
        raise UserError(f"no question templates found in {folder}/questions_*.txt")
    return templates


def read_heldout_templates(folder: Path = PROMPTS) -> list[str]:
    """The phrasings 03_evaluate asks trained products with: prompts/questions_heldout*.txt, never
    used by 01_prepare, so an answer to them is recall of the product, not of the question."""
    templates = _read_templates(sorted(Path(folder).glob(f"{HELDOUT}*.txt")))
    if not templates:
        raise UserError(f"no held-out question templates found in {folder}/{HELDOUT}*.txt")
    return templates


def read_followups(folder: Path = PROMPTS) -> list[str]:
    """Follow-up questions (prompts/followups_*.txt): they name no product, so they are about the one
    the conversation is on; training rows of kind "followup" ask them as a second question."""
    questions = []
    for path in sorted(Path(folder).glob("followups_*.txt")):
        questions += [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
                      if line.strip() and not line.startswith("#")]
    if not questions:
        raise UserError(f"no follow-up questions found in {folder}/followups_*.txt")
    return questions


def pick_template(templates: list[str], uid: str, seed: int) -> str:
    """The same (uid, seed) always gets the same phrasing, whatever else is in the file."""
    return templates[int.from_bytes(digest8(uid.encode(), key=str(seed).encode()), "big") % len(templates)]


def question_for(title: str, uid: str, templates: list[str], seed: int) -> str:
    return pick_template(templates, uid, seed).replace("{title}", title)
