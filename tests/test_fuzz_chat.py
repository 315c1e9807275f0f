"""Fuzz the chat's input path: arbitrary lines (bytes, text, lone surrogates, titles, questions longer than
the context) through the piped Repl of a session with a scripted model and the sample catalog. Never a
traceback; the output is UTF-8; with --json, one JSON line per question line, in order."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from productqa.catalog import Catalog
from productqa.chat import Repl, lossy, parse_command
from tests.test_chat import scripted_session

SAFE_COMMANDS = ["/temp 0", "/temp nan", "/sources off", "/grounded off", "/grounded on", "/reset", "/help", "/stats"]


def lines(titles):
    """One input line (no newline in it): anything, or shaped like what people send."""
    title = st.sampled_from(titles)
    text = st.one_of(
        st.binary(max_size=60),
        st.text(max_size=60),
        st.binary(max_size=30).map(lambda b: b.decode("utf-8", "surrogateescape")),  # undecoded bytes, as Python keeps them
        st.builds(lambda t, tail: f"Tell me about {t}{tail}", title, st.text(max_size=20)),
        st.builds(lambda t, n: f'Tell me about "{t}". ' + "word " * n, title, st.integers(1900, 2600)),  # over 2048
        st.sampled_from(SAFE_COMMANDS + ["1", "2", "Who wrote it?", "", "   "]),
    )
    return text.map(lambda line: line.replace(b"\n", b" ") if isinstance(line, bytes) else line.replace("\n", " "))


def expected_questions(inputs) -> list[str | None]:
    """What each JSON line is about: the question's text, or None for a line that is not UTF-8."""
    found = []
    for line in inputs:
        try:
            text = line.decode("utf-8") if isinstance(line, bytes) else line.encode("utf-8").decode("utf-8")
        except UnicodeError:
            found.append(None)
            continue
        if parse_command(text) is None and text.strip():
            found.append(text.strip())
    return found


def test_no_input_line_costs_a_traceback_or_the_json_line_of_another(catalog_path, sample_titles):  # noqa: F811
    catalog = Catalog(catalog_path)
    titles = [title for _, title in sample_titles[:8]]

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(inputs=st.lists(lines(titles), max_size=6))
    def check(inputs):
        inputs = [line for line in inputs if not _unsafe(lossy(line))]
        piped = [line + (b"\n" if isinstance(line, bytes) else "\n") for line in inputs]
        session, llm, out = scripted_session("The answer, from the record. [1]", catalog)
        Repl(session, 0.0).piped(piped)  # as a person reads it
        out.getvalue().encode("utf-8")
        session, llm, out = scripted_session("The answer, from the record. [1]", catalog)
        Repl(session, 0.0, as_json=True).piped(piped)  # as a program reads it
        written = out.getvalue()
        written.encode("utf-8")  # strict: never a lone surrogate on the way out
        objects = [json.loads(line) for line in written.splitlines() if line.startswith("{")]
        wanted = expected_questions(inputs)
        assert len(objects) == len(wanted), (inputs, written)
        for found, question in zip(objects, wanted):
            if question is None:
                assert set(found) == {"question", "error"} and "is not UTF-8 text" in found["error"]
            else:
                # closed book, a question too long for the context is cut (and a note says so)
                assert found["question"] and question.startswith(found["question"]), (found, question)
                assert found["question"] == question or found.get("why") == "closed book"
                assert "error" in found or "answer" in found

    check()


def _unsafe(text: str) -> bool:
    """Commands that write files, load models or leave: not for arbitrary text (the others are fuzzed)."""
    command = parse_command(text)
    return command is not None and command.name in ("save", "system", "exit", "quit", "compare")
