"""Each stage's parameters are declared once (productqa/stage_args.py): the script's flags are generated
from the dataclass, so a field and its flag cannot drift apart."""
import dataclasses

import pytest

from productqa import stage_args
from tests.conftest import load_script

STAGES = [("05_chat.py", stage_args.ChatArgs), ("04_export.py", stage_args.ExportArgs),
          ("03_evaluate.py", stage_args.EvalArgs), ("06_serve.py", stage_args.ServeArgs),
          ("01_prepare.py", stage_args.PrepareArgs)]


@pytest.mark.parametrize("script, cls", STAGES)
def test_every_field_is_a_flag_with_its_default(script, cls):
    parser = stage_args.parser(cls)
    flags = {action.dest: action for action in parser._actions if action.option_strings}
    for spec in dataclasses.fields(cls):
        if spec.metadata.get("flag", True) is False:
            assert spec.name not in flags
            continue
        action = flags[spec.name]
        assert action.default == spec.default, spec.name
        assert action.help == spec.metadata.get("help"), spec.name
        if isinstance(spec.default, bool):  # a switch: giving it flips the default
            assert action.const is (not spec.default), spec.name
    assert set(flags) - {"help"} == {f.name for f in dataclasses.fields(cls) if f.metadata.get("flag", True)}
    assert load_script(script).parse_args([]) == cls()  # the script parses with this very declaration


def test_switches_and_short_names_keep_their_spelling():
    chat = load_script("05_chat.py").parse_args(["-p", "hi", "--no-sources", "--json", "--ctx", "128"])
    assert (chat.prompt, chat.sources, chat.json, chat.ctx) == ("hi", False, True, 128)
    export = load_script("04_export.py").parse_args(["--no-adapter", "--keep-f16", "--push-to-hub", "me/x"])
    assert (export.adapter, export.keep_f16, export.push_to_hub) == (False, True, "me/x")
    evaluate = load_script("03_evaluate.py").parse_args(["--no-cache", "--split", "val"])
    assert evaluate.settings() == stage_args.EvalSettings(use_cache=False, split="val")


def test_a_stage_function_takes_the_dataclass_or_its_fields_as_keywords():
    args = stage_args.given(stage_args.ChatArgs, None, {"k": 5})
    assert args == stage_args.ChatArgs(k=5)
    assert stage_args.given(stage_args.ChatArgs, args, {"ctx": 128}) == stage_args.ChatArgs(k=5, ctx=128)
    with pytest.raises(TypeError):
        stage_args.given(stage_args.ChatArgs, None, {"n_ctx": 128})
