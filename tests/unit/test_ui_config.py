"""ui-config.json: written on first start with the fields' defaults, edits applied on the next start (A1111's)."""

from __future__ import annotations

import json

from webui.ui.blocks import build_ui


def component(demo, elem_id: str):  # noqa: ANN001, ANN201
    return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def test_ui_config_is_created_then_applied(app_factory) -> None:
    app = app_factory()
    path = app.paths.ui_config_file
    build_ui(app)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["txt2img/Sampling steps/value"] == 20
    assert saved["img2img/Denoising strength/value"] == 0.75
    assert saved["txt2img/Sampling method/value"] == "DPM++ 2M"

    saved["txt2img/Sampling steps/value"] = 33
    saved["img2img/Denoising strength/value"] = "not a number"  # wrong kind: ignored
    saved["txt2img/Prompt/value"] = "a castle"
    path.write_text(json.dumps(saved), encoding="utf-8")
    demo = build_ui(app)
    assert component(demo, "txt2img_steps").value == 33
    assert component(demo, "txt2img_prompt").value == "a castle"
    assert component(demo, "img2img_denoising_strength").value == 0.75
    assert component(demo, "img2img_steps").value == 20  # the other tab keeps its own default

    path.write_text("{broken", encoding="utf-8")
    demo = build_ui(app)  # a broken file: defaults, and the file is left for the user to fix
    assert component(demo, "txt2img_steps").value == 20
    assert path.read_text(encoding="utf-8") == "{broken"
