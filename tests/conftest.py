import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(filename: str):
    """A stage's script (scripts/<filename>) as a module, to call its main() or parse_args() in-process."""
    spec = importlib.util.spec_from_file_location(Path(filename).stem.lstrip("0123456789_") + "_script",
                                                  ROOT / "scripts" / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_lines(path: Path, lines) -> Path:
    """Write raw lines (str records are JSON-encoded dicts or literal text; bytes are written as-is)."""
    with open(path, "wb") as handle:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            handle.write(line if isinstance(line, bytes) else line.encode("utf-8"))
            handle.write(b"\n")
    return path


def record(uid="0001", title="The Quiet Harbor", content="A long enough description of a quiet harbor town."):
    return {"uid": uid, "title": title, "content": content, "target_ind": [1], "target_rel": [1.0]}


@pytest.fixture
def make_input(tmp_path):
    return lambda lines, name="trn.json": write_lines(tmp_path / name, lines)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny Gemma 3 checkpoint folder (random weights, real tokenizer), made once per session."""
    from tests.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-gemma3"))


@pytest.fixture(scope="session")
def prepared_sample(tmp_path_factory):
    """data/sample/trn.json prepared into a temporary folder (train/val/test + catalog)."""
    from productqa.paths import SAMPLE_DATA
    from productqa.prepare import prepare

    out = tmp_path_factory.mktemp("processed")
    prepare(SAMPLE_DATA, out, progress=False, workers=1)
    return out
