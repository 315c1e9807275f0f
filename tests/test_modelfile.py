"""The Modelfile TEMPLATE (Go) renders exactly the prompt the training chat template renders."""
import pytest

from productqa.families import GEMMA3_OLLAMA as GEMMA3_TEMPLATE
from productqa.modelfile import modelfile_text
from tests.go_template import ollama_messages, render_go

CONVERSATIONS = [
    [{"role": "system", "content": "You are productqa.\nBe brief."},
     {"role": "user", "content": "What is \"The Quiet Harbor\" about?"},
     {"role": "assistant", "content": "A novel about a harbor town."},
     {"role": "user", "content": "Who would like it?"},
     {"role": "assistant", "content": "Readers of quiet literary fiction."},
     {"role": "user", "content": "Anything else?"}],
    [{"role": "user", "content": "Tell me about Widget X."}],
    [{"role": "system", "content": "Sys."}, {"role": "user", "content": "Hi"}],
]


@pytest.fixture(scope="module")
def gemma3_chat_template():
    from unsloth.chat_templates import CHAT_TEMPLATES

    return CHAT_TEMPLATES["gemma3"][0]


def render_jinja(template: str, messages) -> str:
    """What apply_chat_template(..., tokenize=False, add_generation_prompt=True) renders."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(conversations=[messages], chat_template=template, add_generation_prompt=True,
                                       bos_token="<bos>", eos_token="<eos>")
    return rendered[0]


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_go_template_renders_the_training_prompt(gemma3_chat_template, messages):
    expected = render_jinja(gemma3_chat_template, messages)
    # Ollama adds <bos> itself (add_bos_token in the GGUF), the TEMPLATE does not write it
    assert "<bos>" + render_go(GEMMA3_TEMPLATE, ollama_messages(messages)) == expected


def test_renderer_subset():
    assert render_go('{{- $x := "a" }}{{ range .M }}{{ if eq . "b" }}{{ $x = . }}{{ end }}{{ end }}{{ $x }}',
                     {"M": ["a", "b", "c"]}) == "b"
    assert render_go("x  {{- if .A }}y{{ else if .B }}z{{ else }}w{{ end -}}  \n!", {"A": "", "B": ""}) == "xw!"


def test_modelfile_text():
    text = modelfile_text("m.q8_0.gguf", "gemma3", "Be helpful.", num_ctx=512, why="Ollama gets one merged file.")
    assert "FROM ./m.q8_0.gguf" in text.splitlines() and "--print-prompt" in text  # how to ground answers in Ollama
    assert "# Ollama gets one merged file." in text.splitlines()
    assert f'TEMPLATE """{GEMMA3_TEMPLATE}"""' in text
    assert 'PARAMETER stop "<end_of_turn>"' in text and "PARAMETER num_ctx 512" in text
    assert 'SYSTEM """Be helpful."""' in text
