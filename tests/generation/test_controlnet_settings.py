"""The extension's "Multi-ControlNet: ControlNet unit number" option decides how many unit tabs the UI shows."""

from __future__ import annotations

import pytest

from webui.config.options import SPECS
from webui.core.errors import UserError


def unit_tabs(demo, tab: str) -> list[str]:
    return sorted(
        c.elem_id for c in demo.blocks.values()
        if (c.elem_id or "").startswith(f"{tab}_controlnet_ControlNet-") and c.elem_id.endswith("_unit_tab")
    )  # fmt: skip


def test_unit_count_option_sets_the_number_of_unit_tabs(app_factory) -> None:
    from webui.ui.blocks import build_ui

    spec = SPECS["control_net_unit_count"]
    assert (spec.default, spec.label) == (3, "Multi-ControlNet: ControlNet unit number (requires restart)")
    app = app_factory()
    app.options.set("control_net_unit_count", 5)
    demo = build_ui(app)
    assert len(unit_tabs(demo, "txt2img")) == 5 and len(unit_tabs(demo, "img2img")) == 5
    with pytest.raises(UserError, match="outside 0..10"):
        app.options.set("control_net_unit_count", 11)
