"""The built-in scripts (A1111's "Script" dropdown) on the tiny models: what a user gets from each."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from webui.core.errors import InvalidRequest
from webui.core.types import BatchSpec, Size
from webui.generation.request import Img2ImgRequest, ScriptCall, Txt2ImgRequest
from webui.images.infotext import parse_infotext
from webui.services.scripts.registry import ScriptNotFound

BASE = Txt2ImgRequest(prompt="a cat", seed=11, steps=2, size=Size(64, 64), sampler="Euler", save_images=False)


def xyz_args(app, x: str, x_values: str, y: str = "Nothing", y_values: str = "", **options) -> list:
    """Positional script_args as A1111's UI sends them (axis types by index in the tab's list)."""
    labels = [a.label for a in app.generation.scripts.find("X/Y/Z plot", "txt2img").axes("txt2img")]
    flags = {"draw_legend": True, "include_lone_images": True, "include_sub_grids": False, "no_fixed_seeds": False}
    flags |= options
    return [
        labels.index(x), x_values, [], labels.index(y), y_values, [], 0, "", [],
        flags["draw_legend"], flags["include_lone_images"], flags["include_sub_grids"], flags["no_fixed_seeds"],
        False, False, False, 0, False,
    ]  # fmt: skip


def run(app, request, name: str, args: list):
    return app.generation.run_sync(replace(request, script=ScriptCall(name, tuple(args))))


def test_xyz_steps_by_cfg_gives_a_labelled_grid_and_one_image_per_cell(tiny_app) -> None:
    result = run(tiny_app, BASE, "X/Y/Z plot", xyz_args(tiny_app, "Steps", "1-2", "CFG Scale", "3, 7.5"))
    grid, cells = result.images[0], result.images[1:]
    assert len(cells) == 4 and result.index_of_first_image == 1
    # Two columns, two rows of 64 px cells, plus room for the labels at the top and on the left.
    assert grid.width > 2 * 64 and grid.height > 2 * 64
    values = [(int(info["Steps"]), float(info["CFG scale"])) for info in map(parse_infotext, result.infotexts[1:])]
    assert values == [(1, 3.0), (2, 3.0), (1, 7.5), (2, 7.5)]
    main = parse_infotext(result.infotexts[0])
    assert main["Script"] == "X/Y/Z plot" and main["X Type"] == "Steps" and main["Y Values"] == "3, 7.5"
    # The label band: the top-left corner is background, the cells are not.
    assert np.asarray(grid)[:5, :5].min() == 255


def test_xyz_without_legend_is_exactly_the_cells_side_by_side(tiny_app) -> None:
    args = xyz_args(tiny_app, "Seed", "1, 2, 3", draw_legend=False)
    result = run(tiny_app, BASE, "X/Y/Z plot", args)
    grid, cells = result.images[0], result.images[1:]
    assert grid.size == (3 * 64, 64)
    assert np.array_equal(np.asarray(grid)[:, 64:128], np.asarray(cells[1]))
    assert [int(parse_infotext(t)["Seed"]) for t in result.infotexts[1:]] == [1, 2, 3]


def test_xyz_prompt_sr_replaces_the_text(tiny_app) -> None:
    result = run(tiny_app, BASE, "X/Y/Z plot", xyz_args(tiny_app, "Prompt S/R", "cat, dog, bird"))
    assert [t.splitlines()[0] for t in result.infotexts[1:]] == ["a cat", "a dog", "a bird"]


def test_xyz_prompt_sr_needs_the_first_value_in_the_prompt(tiny_app) -> None:
    job = tiny_app.generation.submit(
        replace(BASE, script=ScriptCall("x/y/z plot", tuple(xyz_args(tiny_app, "Prompt S/R", "horse, dog"))))
    )
    with pytest.raises(Exception, match="Prompt S/R did not find horse"):
        job.result()


def test_xyz_sub_images_are_left_out_unless_asked(tiny_app) -> None:
    args = xyz_args(tiny_app, "Steps", "1, 2", include_lone_images=False)
    result = run(tiny_app, BASE, "X/Y/Z plot", args)
    assert len(result.images) == 1 and len(result.infotexts) == 1


def test_prompt_matrix_makes_every_combination(tiny_app) -> None:
    request = replace(BASE, prompt="a cat|red|hat")
    result = run(tiny_app, request, "Prompt matrix", [False, False, "positive", "comma", 0])
    prompts = [t.splitlines()[0] for t in result.infotexts[1:]]
    assert prompts == ["a cat", "a cat, red", "a cat, hat", "a cat, red, hat"]
    assert result.images[0].width > 2 * 64  # 2x2 grid with labels
    assert {int(parse_infotext(t)["Seed"]) for t in result.infotexts[1:]} == {11}


def test_prompts_from_file_reads_options_per_line(tiny_app) -> None:
    text = 'a red ball\n\n--prompt "a blue box" --steps 3 --seed 5\n'
    result = run(tiny_app, BASE, "Prompts from file or textbox", [False, False, "start", text])
    first, second = (parse_infotext(t) for t in result.infotexts)
    assert len(result.images) == 2
    assert result.infotexts[0].startswith("a red ball a cat") and int(first["Steps"]) == 2
    assert (
        result.infotexts[1].startswith("a blue box a cat") and int(second["Steps"]) == 3 and int(second["Seed"]) == 5
    )


def test_prompts_from_file_rejects_an_unknown_option(tiny_app) -> None:
    job = tiny_app.generation.submit(
        replace(BASE, script=ScriptCall("Prompts from file or textbox", (False, False, "start", "--colour red")))
    )
    with pytest.raises(InvalidRequest, match="unknown commandline option: --colour"):
        job.result()


def picture(w: int = 64, h: int = 64) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


IMG = Img2ImgRequest(
    prompt="a cat", seed=3, steps=2, size=Size(64, 64), sampler="Euler", save_images=False, init_images=(picture(),)
)


def test_loopback_runs_each_loop_on_the_last_output(tiny_app) -> None:
    result = run(tiny_app, replace(IMG, denoising_strength=0.6), "Loopback", [3, 0.2, "Linear", "None"])
    loops = result.images[result.index_of_first_image :]
    assert len(loops) == 3 and result.index_of_first_image == 1
    assert result.images[0].size == (3 * 64, 64)  # the loops side by side
    strengths = [float(parse_infotext(t)["Denoising strength"]) for t in result.infotexts[1:]]
    assert strengths == pytest.approx([0.6, 0.4, 0.2])
    assert [int(parse_infotext(t)["Seed"]) for t in result.infotexts[1:]] == [3, 4, 5]
    assert parse_infotext(result.infotexts[1])["Denoising curve"] == "Linear"


def test_poor_mans_outpainting_grows_the_picture_and_keeps_the_middle(tiny_app) -> None:
    result = run(tiny_app, IMG, "Poor man's outpainting", [32, 4, "original", ["left", "right"]])
    (image,) = result.images
    assert image.size == (128, 64)
    middle = np.asarray(image)[:, 40:88].astype(int)
    original = np.asarray(picture())[:, 8:56].astype(int)
    assert np.abs(middle - original).mean() < 40  # the original stays (VAE round trip aside); borders are new


def test_sd_upscale_doubles_the_size(tiny_app) -> None:
    result = run(tiny_app, IMG, "SD upscale", [None, 32, "Lanczos", 2.0])
    assert result.images[0].size == (128, 128)
    info = parse_infotext(result.infotexts[0])
    assert info["SD upscale upscaler"] == "Lanczos" and int(info["SD upscale overlap"]) == 32


def test_unknown_script_and_bad_args_are_refused_before_queueing(tiny_app) -> None:
    with pytest.raises(ScriptNotFound, match="Script 'nope' not found"):
        tiny_app.generation.submit(replace(BASE, script=ScriptCall("nope")))
    with pytest.raises(ScriptNotFound):  # img2img-only scripts are not in txt2img
        tiny_app.generation.submit(replace(BASE, script=ScriptCall("Loopback")))
    with pytest.raises(InvalidRequest, match="Loops must be a number"):
        tiny_app.generation.submit(replace(IMG, script=ScriptCall("Loopback", ("many",))))


def test_a_script_is_one_job_with_progress_over_all_its_images(tiny_app) -> None:
    job = tiny_app.generation.submit(
        replace(BASE, script=ScriptCall("X/Y/Z plot", tuple(xyz_args(tiny_app, "Seed", "1, 2, 3"))))
    )
    events = list(job.events(timeout=120))
    fractions = [e.fraction for e in events[:-1]]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert {e.job_count for e in events[:-1]} == {3}


def test_batch_grid_is_saved_and_shown_first(app_factory) -> None:
    app = app_factory()
    result = app.generation.run_sync(replace(BASE, batch=BatchSpec(count=1, size=2), save_images=True))
    assert len(result.images) == 3 and result.index_of_first_image == 1
    assert result.images[0].size == (128, 64)
    grids = list((app.paths.data_dir / "outputs" / "txt2img-grids").rglob("grid-*.png"))
    assert [g.name for g in grids] == ["grid-0000.png"]
    single = app.generation.run_sync(replace(BASE, save_images=True))
    assert len(single.images) == 1  # grid_only_if_multiple


def test_interrupt_stops_the_whole_script(tiny_app) -> None:
    request = replace(BASE, steps=6)
    job = tiny_app.generation.submit(
        replace(request, script=ScriptCall("X/Y/Z plot", tuple(xyz_args(tiny_app, "Seed", "1-12"))))
    )
    for event in job.events(timeout=120):
        if getattr(event, "job_no", None) == 1:  # the second cell started
            job.interrupt()
            break
    result = job.result(timeout=120)
    assert result.interrupted
    made = [text for text in result.infotexts[result.index_of_first_image :] if text]
    assert len(made) < 12  # the cells not made stay black in the grid, as in A1111
    assert len(result.images) == 13 and not np.asarray(result.images[-1]).any()


def test_xyz_checkpoint_axis_switches_models(tiny_app) -> None:
    names = [info.title for info in tiny_app.models.checkpoints() if "inpaint" not in info.title][:2]
    assert len(names) == 2, names
    args = xyz_args(tiny_app, "Checkpoint name", ", ".join(names))
    args[-1] = True  # "Use text inputs instead of dropdowns": the names come from the text box
    result = run(tiny_app, BASE, "X/Y/Z plot", args)
    models = [parse_infotext(t)["Model"] for t in result.infotexts[1:]]
    assert len(set(models)) == 2  # one cell per checkpoint
