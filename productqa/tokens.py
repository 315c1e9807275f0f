"""The end-of-turn token a base model never learnt, and its repair before fine-tuning.

Gemma 3 270M (a base model) never saw `<end_of_turn>` in use: its embedding row (tied with the output
layer) is still near its initial value, a near-copy (cosine > 0.99) of thousands of never-used rows.
No hidden state can then make it likelier than its look-alikes, so LoRA, which leaves embeddings
alone, cannot teach the model to end its turn, and answers run on until the token limit.

The repair, at the cause: before LoRA, the end-of-turn row is replaced by the row of `<eos>` (trained:
the model emits it where text ends), scaled by 1.05 so that where both are likely the end-of-turn
token wins (its logit is then 1.05x eos's). Training then teaches the model when a turn ends, and
every runtime stops on it. The repair is a deterministic function of the base weights, recorded in
the run's meta.json (`token_repair`) and applied again wherever the base is loaded (evaluation,
export): the adapter alone does not carry it.
"""
from __future__ import annotations

import contextlib

SCALE = 1.05
COSINE = 0.99    # a row this close to ...
CROWD = 10       # ... this many other rows was never trained


def is_untrained(weight, token: int) -> bool:
    """True when `token`'s row of an embedding matrix is a near-copy of many other rows."""
    row = weight[token].float()
    row = row / row.norm().clamp_min(1e-8)
    close = 0
    for start in range(0, weight.shape[0], 32768):
        block = weight[start:start + 32768].float()
        sims = (block @ row) / block.norm(dim=1).clamp_min(1e-8)
        close += int((sims > COSINE).sum()) - int(start <= token < start + 32768)
    return close >= CROWD


def plan_repair(model, stop_id: int, eos_id: int | None) -> dict | None:
    """{"rows": [stop_id], "source": eos_id, "scale": SCALE} when the stop row needs it, else None."""
    if eos_id is None or stop_id is None or stop_id == eos_id or stop_id < 0:
        return None
    weight = model.get_input_embeddings().weight.detach()
    if not is_untrained(weight, stop_id) or is_untrained(weight, eos_id):
        return None
    return {"rows": [int(stop_id)], "source": int(eos_id), "scale": SCALE}


def apply_repair(model, repair: dict | None) -> dict:
    """Apply a planned repair in place (input and tied output rows); returns {row: original values}."""
    import torch

    if not repair:
        return {}
    originals = {}
    with torch.no_grad():
        for weight in _weights(model):
            source = weight[repair["source"]].clone()
            for row in repair["rows"]:
                originals.setdefault(row, weight[row].clone())
                weight[row] = source * repair["scale"]
    return originals


def restore(model, originals: dict) -> None:
    import torch

    with torch.no_grad():
        for weight in _weights(model):
            for row, values in originals.items():
                weight[row] = values


@contextlib.contextmanager
def swapped(model, rows: dict):
    """`rows` ({row id: values}) in place for the duration, then what was there before: with the
    originals apply_repair returned, this is the base model as it was (the before-training baseline)."""
    if not rows:
        yield
        return
    current = {row: model.get_input_embeddings().weight[row].detach().clone() for row in rows}
    restore(model, rows)
    try:
        yield
    finally:
        restore(model, current)


def _weights(model) -> list:
    """The input embedding matrix, and the output layer's when it is not tied to it."""
    weights = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight.data_ptr() != weights[0].data_ptr():
        weights.append(output.weight)
    return weights
