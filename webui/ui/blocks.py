"""Build the Gradio app: quicksettings bar and tabs. Rendering and binding are separate steps (design §1.12 d)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from webui.ui.components.queue_panel import bind_queue_panel, render_queue_panel
from webui.ui.components.quicksettings import bind_quicksettings, render_quicksettings
from webui.ui.components.ui_config import apply_ui_config
from webui.ui.tabs.extensions import render_extension_tabs, render_extensions_on_open
from webui.ui.tabs.extras import bind_extras, render_extras
from webui.ui.tabs.img2img import bind_img2img, bind_send_to, render_img2img
from webui.ui.tabs.pnginfo import bind_pnginfo, render_pnginfo
from webui.ui.tabs.settings import render_settings_on_open
from webui.ui.tabs.txt2img import bind_txt2img, render_txt2img

if TYPE_CHECKING:
    from webui.app import App
    from webui.extensions.a1111.component_hooks import ComponentHooks

STATIC = Path(__file__).resolve().parent / "static"
SCRIPTS = ("script.js", "extra_networks.js", "hints.js")  # each a `() => {...}` run once on load
# Quick handlers (refresh, select, gallery clicks) may overlap; jobs queue on the app's JobRunner
# (components/gallery.py).
DEFAULT_CONCURRENCY = 4


def build_ui(app: App) -> gr.Blocks:
    """The whole UI for one App; no module state, so several Apps (tests) can each have their own. Extensions'
    on_before_component / on_after_component (and their Scripts' component hooks) fire while it is built."""
    from webui.extensions.a1111.component_hooks import ComponentHooks

    components = ComponentHooks.of(app)
    with components.installed():
        demo = _build_blocks(app, components)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY)
    return demo


def _build_blocks(app: App, components: ComponentHooks) -> gr.Blocks:
    extension_tabs = app.extensions.ui_tabs() if app.extensions else []  # on_ui_tabs runs before the Blocks
    with gr.Blocks(title="Stable Diffusion", analytics_enabled=False) as demo:
        quick = render_quicksettings(app.model_service, app.options)
        queue_panel = render_queue_panel()
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"), components.tab("txt2img"):
                txt2img = render_txt2img(
                    controlnet_units=int(app.options.get("control_net_unit_count")), scripts=app.generation.scripts
                )
            with gr.Tab("img2img", id="img2img", elem_id="tab_img2img"), components.tab("img2img"):
                img2img = render_img2img(
                    controlnet_units=int(app.options.get("control_net_unit_count")), scripts=app.generation.scripts
                )
            with gr.Tab("Extras", id="extras", elem_id="tab_extras"):
                extras = render_extras()
            with gr.Tab("PNG Info", id="pnginfo", elem_id="tab_pnginfo"):
                pnginfo = render_pnginfo()
            render_extension_tabs(extension_tabs)
            with gr.Tab("Settings", id="settings", elem_id="tab_settings") as settings_tab:
                render_settings_on_open(settings_tab, app.options)  # built when opened: a faster page load
            if app.extensions:
                with gr.Tab("Extensions", id="extensions", elem_id="tab_extensions") as extensions_tab:
                    render_extensions_on_open(extensions_tab, app.extensions)  # built when opened
        bind_quicksettings(quick, app.model_service, demo, app.options)
        bind_queue_panel(queue_panel, app.jobs)
        bind_txt2img(txt2img, app, quick.checkpoint)
        bind_img2img(img2img, app, quick.checkpoint)
        bind_send_to(txt2img.results, txt2img.prompts, img2img, tabs)
        bind_send_to(img2img.results, img2img.prompts, img2img, tabs)
        bind_extras(extras, app)
        pasted = app.extensions.infotext_pasted if app.extensions is not None else None  # on_infotext_pasted
        bind_pnginfo(pnginfo, tabs, quick.checkpoint, txt2img, img2img, extras, pasted)
        apply_ui_config(demo, app.paths.ui_config_file)  # last: every field exists, the page config is not made yet
    return demo


def ui_assets() -> dict[str, Any]:
    """Keyword arguments for gr.mount_gradio_app (Gradio 6 takes theme/css/js there, not in gr.Blocks)."""
    return {
        "theme": gr.themes.Default(primary_hue="orange", secondary_hue="gray", neutral_hue="slate"),
        "css": "\n".join((STATIC / name).read_text(encoding="utf-8") for name in ("style.css", "extra_networks.css")),
        "js": "() => {\n"
        + "\n".join(f"({(STATIC / name).read_text(encoding='utf-8').strip()})();" for name in SCRIPTS)
        + "\n}",
    }
