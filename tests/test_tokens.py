"""The end-of-turn row repair: found where it is needed, applied to input and tied output rows, undone for the base."""
import pytest
import torch

from productqa.tokens import apply_repair, is_untrained, plan_repair, swapped


class TinyLm(torch.nn.Module):
    """An embedding tied to an output layer, with a crowd of identical never-trained rows (ids 10-39)."""

    def __init__(self, tied=True):
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(64, 8)
        with torch.no_grad():
            self.embed.weight[10:40] = self.embed.weight[10] + 1e-4 * torch.randn(30, 8)
        self.head = torch.nn.Linear(8, 64, bias=False)
        if tied:
            self.head.weight = self.embed.weight

    def get_input_embeddings(self):
        return self.embed

    def get_output_embeddings(self):
        return self.head


def test_untrained_rows_are_the_crowded_ones():
    weight = TinyLm().embed.weight.detach()
    assert is_untrained(weight, 12) and not is_untrained(weight, 1) and not is_untrained(weight, 50)


@pytest.mark.parametrize("tied", [True, False])
def test_repair_copies_the_eos_row_scaled_and_swapped_restores_the_base(tied):
    model = TinyLm(tied)
    before = model.embed.weight.detach().clone()
    repair = plan_repair(model, stop_id=12, eos_id=1)
    assert repair == {"rows": [12], "source": 1, "scale": 1.05}
    originals = apply_repair(model, repair)
    for weight in (model.embed.weight, model.head.weight):
        assert torch.allclose(weight[12], weight[1] * 1.05)
    assert torch.equal(originals[12], before[12])
    with swapped(model, originals):  # the base model as published
        assert torch.equal(model.embed.weight[12], before[12])
    assert torch.allclose(model.embed.weight[12], before[1] * 1.05)


def test_no_repair_where_the_row_is_trained_or_is_eos():
    model = TinyLm()
    assert plan_repair(model, stop_id=50, eos_id=1) is None  # a trained end-of-turn row
    assert plan_repair(model, stop_id=1, eos_id=1) is None    # the stop token is eos itself
    assert apply_repair(model, None) == {}


def test_the_bundled_gemma_needs_the_repair():
    """Gemma 3 270M's <end_of_turn> (106) is untrained, its <eos> (1) is trained (docs/stages.md, 2. Train, "Stopping")."""
    from transformers import AutoModelForCausalLM

    from productqa.models import bundled_checkpoint

    model = AutoModelForCausalLM.from_pretrained(bundled_checkpoint(progress=False), dtype=torch.bfloat16)
    assert plan_repair(model, stop_id=106, eos_id=1) == {"rows": [106], "source": 1, "scale": 1.05}
