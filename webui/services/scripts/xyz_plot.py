"""A1111's "X/Y/Z plot": one image per combination of up to three axes' values, drawn into labelled grids."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from webui.generation.request import Txt2ImgRequest
from webui.generation.runner import GenerationResult
from webui.generation.seeds import resolve_seed
from webui.images.grid import GridAnnotation, draw_grid_annotations, image_grid
from webui.services.scripts.base import GenerationScript, ScriptArg
from webui.services.scripts.context import ScriptContext, batch_grid
from webui.services.scripts.registry import AxisLists
from webui.services.scripts.results import with_params
from webui.services.scripts.xyz_axes import Axis, axes_for, axis_options, axis_values, csv_string

SEED_AXES = ("Seed", "Var. seed")


@dataclass
class Plan:
    axes: list[Axis]
    texts: list[str]  # the values as typed (for the infotext's "X Values")
    values: list[list[Any]]


class XyzPlot(GenerationScript):
    title = "X/Y/Z plot"

    def __init__(self, lists: AxisLists) -> None:
        self.all_axes = axis_options(lists.checkpoints, lists.vaes, lists.styles)

    def axes(self, mode: str) -> list[Axis]:
        return axes_for(mode, self.all_axes)

    def arguments(self, mode: str) -> list[ScriptArg]:
        labels = tuple(axis.label for axis in self.axes(mode))
        args: list[ScriptArg] = []
        for name, default in (("x", 1), ("y", 0), ("z", 0)):
            big = name.upper()
            args += [
                ScriptArg(f"{name}_type", f"{big} type", "dropdown", default, labels, by_index=True),
                ScriptArg(f"{name}_values", f"{big} values", "textbox", ""),
                ScriptArg(f"{name}_values_dropdown", f"{big} values", "multiselect", [], visible=False),
            ]
        return args + [
            ScriptArg("draw_legend", "Draw legend", "checkbox", True),
            ScriptArg("include_lone_images", "Include Sub Images", "checkbox", False),
            ScriptArg("include_sub_grids", "Include Sub Grids", "checkbox", False),
            ScriptArg("no_fixed_seeds", "Keep -1 for seeds", "checkbox", False),
            ScriptArg("vary_seeds_x", "Vary seeds for X", "checkbox", False),
            ScriptArg("vary_seeds_y", "Vary seeds for Y", "checkbox", False),
            ScriptArg("vary_seeds_z", "Vary seeds for Z", "checkbox", False),
            ScriptArg("margin_size", "Grid margins (px)", "slider", 0, minimum=0, maximum=500, step=2),
            ScriptArg("csv_mode", "Use text inputs instead of dropdowns", "checkbox", False),
        ]

    def _plan(self, mode: str, args: dict[str, Any]) -> Plan:
        axes_list = self.axes(mode)
        plan = Plan([], [], [])
        for name in "xyz":
            axis = axes_list[args[f"{name}_type"]]
            if axis.apply is None:
                raise_unsupported(axis)
            dropdown = args[f"{name}_values_dropdown"]
            text = args[f"{name}_values"]
            if axis.choices is not None and not args["csv_mode"]:
                text = csv_string(dropdown)
            values = axis_values(axis, text, dropdown, args["csv_mode"])
            if not args["no_fixed_seeds"] and axis.label in SEED_AXES:
                values = [random.randrange(4294967294) if v in (None, "", -1) else v for v in values]
            plan.axes.append(axis)
            plan.texts.append(text)
            plan.values.append(values)
        return plan

    def run(self, context: ScriptContext, request: Txt2ImgRequest, args: dict[str, Any]) -> GenerationResult:
        if not args["no_fixed_seeds"]:
            request = replace(request, seed=resolve_seed(request.seed), subseed=resolve_seed(request.subseed))
        if not context.grid.return_grid:
            request = replace(request, batch=replace(request.batch, size=1))
        plan = self._plan(context.mode, args)
        xs, ys, zs = plan.values
        context.expect(len(xs) * len(ys) * len(zs))
        cells: dict[tuple[int, int, int], GenerationResult] = {}
        for ix, iy, iz in self._order(plan):
            if context.interrupted:
                break
            cell = request
            for axis, values, index, offset in zip(plan.axes, plan.values, (ix, iy, iz), "xyz", strict=True):
                cell = axis.apply(cell, values[index], values)  # type: ignore[misc]
                if args[f"vary_seeds_{offset}"] and cell.seed >= 0:
                    cell = replace(cell, seed=cell.seed + index)
            cells[ix, iy, iz] = context.generate(cell)
        return self._assemble(context, plan, cells, args)

    def _order(self, plan: Plan) -> list[tuple[int, int, int]]:
        """Matches A1111 1.10: the costliest axis (checkpoints, VAEs) is the outer loop, so it changes least
        often; by default z, then y, then x."""
        cx, cy, cz = (axis.cost for axis in plan.axes)
        first, second = 2, 1
        if cx > cy and cx > cz:
            first, second = 0, (1 if cy > cz else 2)
        elif cy > cx and cy > cz:
            first, second = 1, (0 if cx > cz else 2)
        elif cz > cx and cz > cy:
            first, second = 2, (0 if cx > cy else 1)
        third = 3 - first - second
        sizes = [len(v) for v in plan.values]
        combos: list[tuple[int, int, int]] = []
        for a in range(sizes[first]):
            for b in range(sizes[second]):
                for c in range(sizes[third]):
                    index = [0, 0, 0]
                    index[first], index[second], index[third] = a, b, c
                    combos.append((index[0], index[1], index[2]))
        return combos

    def _cell_image(self, context: ScriptContext, result: GenerationResult | None, size: tuple[int, int]) -> Any:
        if result is None or not result.images:
            return Image.new("RGB", size), ""
        if len(result.images) > 1:
            return batch_grid(result.images, len(result.images), context.grid), result.infotexts[0]
        return result.images[0], result.infotexts[0]

    def _assemble(
        self, context: ScriptContext, plan: Plan, cells: dict[tuple[int, int, int], GenerationResult], args: dict
    ) -> GenerationResult:
        xs, ys, zs = plan.values
        first = next((r for r in cells.values() if r.images), None)
        out = GenerationResult(interrupted=context.interrupted)
        if first is None:
            return out
        size = first.images[0].size
        x_axis, y_axis, z_axis = plan.axes
        hor = [[GridAnnotation(x_axis.format(x))] for x in xs]
        ver = [[GridAnnotation(y_axis.format(y))] for y in ys]
        sub_grids, sub_infos, images, infos = [], [], [], []
        for iz in range(len(zs)):
            pictures = []
            for iy in range(len(ys)):
                for ix in range(len(xs)):
                    result = cells.get((ix, iy, iz))
                    image, info = self._cell_image(context, result, size)
                    pictures.append(image)
                    images.append(image)
                    infos.append(info)
                    if result is not None:
                        out.seeds += result.seeds[:1]
                        out.paths += result.paths
                        out.warnings += [w for w in result.warnings if w not in out.warnings]
            grid = image_grid(
                pictures, rows=len(ys), background=context.grid.colors.background, on_layout=context.grid.on_layout
            )
            if args["draw_legend"]:
                w, h = pictures[0].size
                grid = draw_grid_annotations(grid, w, h, hor, ver, args["margin_size"], context.grid.colors)
            sub_grids.append(grid)
            sub_infos.append(with_params(infos[iz * len(xs) * len(ys)] or first.infotexts[0], self._keys(plan, args)))
        z_grid = image_grid(
            sub_grids, rows=1, background=context.grid.colors.background, on_layout=context.grid.on_layout
        )
        if args["draw_legend"]:
            titles = [[GridAnnotation(z_axis.format(z))] for z in zs]
            w, h = sub_grids[0].size
            z_grid = draw_grid_annotations(z_grid, w, h, titles, [[GridAnnotation()]], 0, context.grid.colors)
        main_info = with_params(sub_infos[0], self._keys(plan, args, with_z=True))
        context.save_grid(z_grid, main_info, basename="xyz_grid")
        out.model_name, out.model_hash = first.model_name, first.model_hash
        out.images = [z_grid]
        out.infotexts = [main_info]
        if args["include_sub_grids"]:
            for grid, info in zip(sub_grids, sub_infos, strict=True):
                if len(zs) > 1:
                    context.save_grid(grid, info, basename="xyz_grid")
            out.images += sub_grids
            out.infotexts += sub_infos
        out.index_of_first_image = len(out.images)
        if args["include_lone_images"]:
            out.images += images
            out.infotexts += infos
        return out

    def _keys(self, plan: Plan, args: dict[str, Any], with_z: bool = False) -> dict[str, object]:
        """What A1111 adds to the grids' infotexts: Script, X/Y (and Z on the main grid) Type and Values."""
        keys: dict[str, object] = {"Script": self.title}
        for name, axis, text, values in zip("XYZ", plan.axes, plan.texts, plan.values, strict=True):
            if axis.label == "Nothing" or (name == "Z" and not with_z):
                continue
            keys[f"{name} Type"] = axis.label
            keys[f"{name} Values"] = text
            if axis.label in SEED_AXES and not args["no_fixed_seeds"]:
                keys[f"Fixed {name} Values"] = ", ".join(str(v) for v in values)
        return keys


def raise_unsupported(axis: Axis) -> None:
    from webui.core.errors import UserError

    raise UserError(f"X/Y/Z plot: the axis type '{axis.label}' is not supported yet")
