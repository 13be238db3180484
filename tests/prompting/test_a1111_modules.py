"""A1111's `modules.prompt_parser` and `modules.extra_networks` names, as extensions import them."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "webui" / "extensions" / "a1111"


def test_modules_import_without_torch_or_an_app() -> None:
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(ROOT)!r}, {str(SHIM)!r}]\n"
        "import modules, modules.prompt_parser, modules.extra_networks\n"
        "assert modules.prompt_parser.get_learned_conditioning_prompt_schedules(['[a:b:1]'], 2) == "
        "[[[1, 'a'], [2, 'b']]]\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'webui.app' not in sys.modules, 'the app was imported'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.fixture()
def a1111() -> Iterator[dict[str, ModuleType]]:
    """Imports the shim as `modules` for the test, then restores sys.path and sys.modules."""
    saved_path = list(sys.path)
    saved = {name: module for name, module in sys.modules.items() if name == "modules" or name.startswith("modules.")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(SHIM))
    try:
        import modules.extra_networks
        import modules.prompt_parser

        yield {"prompt_parser": modules.prompt_parser, "extra_networks": modules.extra_networks}
    finally:
        sys.path[:] = saved_path
        for name in [name for name in sys.modules if name == "modules" or name.startswith("modules.")]:
            del sys.modules[name]
        sys.modules.update(saved)


def test_schedules_are_lists_as_in_a1111(a1111: dict[str, ModuleType]) -> None:
    prompt_parser = a1111["prompt_parser"]
    schedules = prompt_parser.get_learned_conditioning_prompt_schedules(["a [b:c:0.5]", "x", "a [b:c:0.5]"], 10)
    assert schedules == [[[5, "a b"], [10, "a c"]], [[10, "x"]], [[5, "a b"], [10, "a c"]]]
    assert type(schedules[0][0]) is list and schedules[0] is schedules[2]
    hires = prompt_parser.get_learned_conditioning_prompt_schedules(["a [b:1.5] c"], 10, 10)
    assert hires == [[[5, "a  c"], [10, "a b c"]]]
    old = prompt_parser.get_learned_conditioning_prompt_schedules(["[a:b:1.0]"], 10, use_old_scheduling=True)
    assert old == [[[1, "a"], [10, "b"]]]


def test_parse_prompt_attention_returns_lists_with_int_break(a1111: dict[str, ModuleType]) -> None:
    pieces = a1111["prompt_parser"].parse_prompt_attention("a (b) BREAK c")
    assert pieces == [["a ", 1.0], ["b", 1.1], ["", 1.0], ["BREAK", -1], ["c", 1.0]]
    assert type(pieces[0]) is list and type(pieces[3][1]) is int
    with pytest.raises(ValueError):  # as A1111, which fails on float("1.2.3")
        a1111["prompt_parser"].parse_prompt_attention("(a:1.2.3)")


def test_get_multicond_prompt_list_keeps_sd_conditioning(a1111: dict[str, ModuleType]) -> None:
    prompt_parser = a1111["prompt_parser"]
    prompts = prompt_parser.SdConditioning(["a AND b :0.5", "b"], is_negative_prompt=False, width=1024, height=768)
    res_indexes, flat, indexes = prompt_parser.get_multicond_prompt_list(prompts)
    assert res_indexes == [[(0, 1.0), (1, 0.5)], [(2, 1.0)]]
    assert flat == ["a", " b", "b"] and isinstance(flat, prompt_parser.SdConditioning)
    assert (flat.width, flat.height, flat.is_negative_prompt) == (1024, 768, False)
    assert indexes == {"a": 0, " b": 1, "b": 2}
    assert prompt_parser.re_AND.split("a AND b") == ["a ", " b"]
    assert prompt_parser.ScheduledPromptConditioning(3, None).end_at_step == 3


def test_extra_networks_parse_prompt(a1111: dict[str, ModuleType]) -> None:
    extra_networks = a1111["extra_networks"]
    text, found = extra_networks.parse_prompt("a <lora:x:0.5:te=1> b <hypernet:h>")
    assert text == "a  b "
    assert isinstance(found, defaultdict) and found["missing"] == []
    lora = found["lora"][0]
    assert (lora.items, lora.positional, lora.named) == (["x", "0.5", "te=1"], ["x", "0.5"], {"te": "1"})
    assert lora == extra_networks.ExtraNetworkParams(items=["x", "0.5", "te=1"])
    texts, first = extra_networks.parse_prompts(["<lora:a:1> x", "<lora:b:1> y"])
    assert texts == [" x", " y"] and [p.items for p in first["lora"]] == [["a", "1"]]
    with pytest.raises(NotImplementedError):
        extra_networks.ExtraNetwork("mine").activate(None, [])
