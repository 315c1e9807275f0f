"""The loss curve of a run, drawn once: 02_train writes it beside the run, 03_evaluate redraws it from
trainer_log.jsonl when the run's own loss.png is missing."""
from __future__ import annotations

from pathlib import Path

from productqa.files import atomic_open

Points = list[tuple[float, float]]


def loss_points(entries) -> tuple[Points, Points]:
    """(step, training loss) and (step, eval loss) from Trainer log entries; entries without a step or a
    numeric loss are skipped."""
    train, val = [], []
    for entry in entries:
        step = entry.get("step", entry.get("global_step"))
        if step is None:
            continue
        if isinstance(entry.get("loss"), (int, float)):
            train.append((step, entry["loss"]))
        if isinstance(entry.get("eval_loss"), (int, float)):
            val.append((step, entry["eval_loss"]))
    return train, val


def plot_loss(train: Points, val: Points, path: Path) -> Path:
    """A PNG of both curves, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train), label="train loss")
    if val:
        ax.plot(*zip(*val), "o-", label="eval loss (val)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)
    return Path(path)
