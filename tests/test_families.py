"""The model-family table: each family's markers and end-of-turn token are what its chat template writes."""
import pytest

from productqa.families import END_OF_TURN_TOKENS, FAMILIES, for_model_type, for_template


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from productqa.models import bundled_checkpoint

    return AutoTokenizer.from_pretrained(bundled_checkpoint(progress=False))


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_markers_are_what_its_template_renders(name, tokenizer):
    from unsloth.chat_templates import get_chat_template

    family = FAMILIES[name]
    rendered = get_chat_template(tokenizer, family.template).apply_chat_template(
        [{"role": "user", "content": "QUESTION"}, {"role": "assistant", "content": "ANSWER"}], tokenize=False)
    # the loss trains on what follows `model` up to the next `user`: the answer and its end-of-turn token
    assert family.user in rendered and family.model in rendered
    assert rendered.index(family.user) < rendered.index("QUESTION") < rendered.index(family.model)
    end = family.end_of_turn or tokenizer.eos_token
    after = rendered[rendered.index(family.model) + len(family.model):]
    assert after.split("ANSWER", 1)[1].lstrip().startswith(end)
    assert family.end_of_turn is None or (family.end_of_turn in family.stops and family.end_of_turn in END_OF_TURN_TOKENS)
    assert all(for_model_type(t) is family for t in family.model_types) and for_template(name) is family


def test_unknown_families():
    from productqa.chat_format import template_name

    assert for_model_type("no-such-type") is None and for_template(None) is None
    assert template_name("gemma3_text") == "gemma3"
    with pytest.raises(ValueError, match="no chat template known"):
        template_name("no-such-type")


def test_stop_token_ids_end_a_gemma_answer_at_either_end_token(tokenizer):
    from productqa.families import stop_token_ids

    ids = stop_token_ids(tokenizer)
    assert tokenizer.convert_tokens_to_ids("<end_of_turn>") in ids and tokenizer.convert_tokens_to_ids("<eos>") in ids
    assert tokenizer.convert_tokens_to_ids("<start_of_turn>") not in ids
