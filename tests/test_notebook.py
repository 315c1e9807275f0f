"""The Colab notebook runs end to end (so it cannot rot): executed with nbclient on the CPU with the
bundled sample and tiny parameters, injected after its parameters cell as papermill does."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "productqa_colab.ipynb"


def test_committed_notebook_has_no_outputs_and_one_parameters_cell():
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    assert [cell.metadata.get("tags") for cell in code].count(["parameters"]) == 1
    assert "parameters" in code[0].metadata.get("tags", [])  # the parameters come first


@pytest.mark.slow
def test_notebook_runs_every_stage_on_the_cpu(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", []))
    overrides = dict(INSTALL=False, WORK=str(tmp_path), PRESET="cpu", MAX_STEPS=2, MAX_RECORDS=None,
                     EVAL_PER_SUITE=2, MAX_NEW_TOKENS=12, QUANTS="q8_0", GATE_SAMPLES=2)
    injected = [f"{k} = {v!r}" for k, v in overrides.items()] + ["import sys", "print('kernel prefix:', sys.prefix)"]
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell("\n".join(injected)))
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()

    text = "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    assert (tmp_path / "runs" / "colab" / "eval" / "report.md").is_file()
    assert list((tmp_path / "export" / "colab").glob("*.q8_0.gguf"))
    assert "base model (before fine-tuning):" in text and "fine-tuned:" in text and "Sources (" in text
    assert f"ollama create productqa -f {tmp_path / 'export' / 'colab' / 'Modelfile'}" in text
    images = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if "image/png" in out.get("data", {})]
    assert images, "the loss plot is shown inline"
    assert f"kernel prefix: {sys.prefix}" in text  # the kernel ran this environment's packages (INSTALL=False)
