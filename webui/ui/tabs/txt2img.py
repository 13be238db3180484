"""The txt2img tab: render_txt2img() only creates components, bind_txt2img() wires them to the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from webui.generation.request import Txt2ImgRequest
from webui.generation.samplers.registry import SAMPLERS, SCHEDULE_TYPES
from webui.services.scripts.registry import ScriptRegistry
from webui.ui.binding import txt2img_request
from webui.ui.components.controlnet_unit import UNIT_COUNT, ControlNetWidgets, bind_controlnet, render_controlnet
from webui.ui.components.extra_networks import (
    ExtraNetworksWidgets,
    bind_extra_networks,
    close_extra_networks,
    open_extra_networks,
)
from webui.ui.components.gallery import ResultPanel, bind_generation, render_result_panel
from webui.ui.components.hires import HiresWidgets, bind_hires, render_hires
from webui.ui.components.paste import bind_paste
from webui.ui.components.prompt_row import PromptRow, bind_prompt_tools, render_prompt_row
from webui.ui.components.refiner import RefinerWidgets, bind_refiner, render_refiner
from webui.ui.components.request_inputs import common_request_inputs
from webui.ui.components.sampler_row import SamplerRow, render_sampler_row
from webui.ui.components.scripts import ScriptsWidgets, bind_scripts, render_scripts, with_script
from webui.ui.components.seed_row import SeedRow, bind_seed_row, render_seed_row
from webui.ui.components.size_row import SizeRow, bind_size_row, render_size_row

if TYPE_CHECKING:
    from webui.app import App

TAB = "txt2img"


@dataclass
class Txt2ImgWidgets:
    prompts: PromptRow
    sampling: SamplerRow
    size: SizeRow
    cfg_scale: gr.Slider
    seed: SeedRow
    hires: HiresWidgets
    results: ResultPanel
    controlnet: ControlNetWidgets
    networks: ExtraNetworksWidgets
    scripts: ScriptsWidgets | None = None  # the "Script" dropdown and its scripts' controls
    refiner: RefinerWidgets | None = None  # A1111's "Refiner" accordion

    def request_inputs(self, checkpoint: gr.Dropdown) -> dict[str, gr.components.Component]:
        """The components whose values make a request, by binding.TXT2IMG_FIELDS key."""
        return {
            **common_request_inputs(self.prompts, self.sampling, self.size, self.cfg_scale, self.seed, checkpoint),
            **self.hires.request_inputs(),
            **(self.refiner.request_inputs() if self.refiner is not None else {}),
            **self.controlnet.request_inputs(),
            **(self.scripts.request_inputs() if self.scripts is not None else {}),
        }


def render_txt2img(
    defaults: Txt2ImgRequest | None = None, controlnet_units: int = UNIT_COUNT, scripts: ScriptRegistry | None = None
) -> Txt2ImgWidgets:
    """Create the tab's components (call inside a gr.Tab); defaults are A1111's, taken from the request type."""
    d = defaults or Txt2ImgRequest()
    prompts = render_prompt_row(TAB)
    networks_layout = open_extra_networks(TAB)  # A1111's "Generation" tab beside the extra-network card pages
    with gr.Row(elem_id=f"{TAB}_main", equal_height=False):
        with gr.Column(scale=5, elem_id=f"{TAB}_settings", elem_classes=["settings-column"]):
            sampling = render_sampler_row(
                TAB,
                [s.name for s in SAMPLERS],
                SCHEDULE_TYPES,
                sampler=d.sampler,
                scheduler=d.scheduler,
                steps=d.steps,
            )
            size = render_size_row(TAB, width=d.size.width, height=d.size.height)
            cfg_scale = gr.Slider(
                1.0, 30.0, value=d.cfg_scale, step=0.5, label="CFG Scale", elem_id=f"{TAB}_cfg_scale"
            )
            seed = render_seed_row(TAB, seed=d.seed)
            hires = render_hires(TAB, d.hires)
            refiner = render_refiner(TAB)
            controlnet = render_controlnet(TAB, units=controlnet_units)
            script_widgets = render_scripts(TAB, scripts or ScriptRegistry.with_builtins())
        with gr.Column(scale=6, elem_id=f"{TAB}_results_column"):
            results = render_result_panel(TAB)
    networks = close_extra_networks(networks_layout)
    return Txt2ImgWidgets(
        prompts, sampling, size, cfg_scale, seed, hires, results, controlnet, networks, script_widgets, refiner
    )


def bind_txt2img(w: Txt2ImgWidgets, app: App, checkpoint: gr.Dropdown) -> None:
    """Wire the tab to the generation service. Handlers keep no state outside their session's gr.State."""
    build = with_script(txt2img_request, app.generation.scripts, TAB)
    bind_generation(w.results, w.prompts, w.seed, app, w.request_inputs(checkpoint), build)
    pasted = app.extensions.infotext_pasted if app.extensions is not None else None  # on_infotext_pasted
    bind_paste(w.prompts.paste, w.request_inputs(checkpoint), w.results.generation, pasted)
    bind_size_row(w.size)
    bind_seed_row(w.seed, w.results.generation)
    bind_extra_networks(w.networks, app, w.prompts, w.results, checkpoint)
    bind_prompt_tools(w.prompts, app.prompts)
    bind_hires(w.hires, w.size.width, w.size.height, app.model_service.titles, app.options.get)
    if w.refiner is not None:
        bind_refiner(w.refiner, app.model_service.titles)
    bind_controlnet(w.controlnet, app, w.size.width, w.size.height)
    if w.scripts is not None:
        bind_scripts(w.scripts)
