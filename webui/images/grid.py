"""Image grids as A1111 draws them: plain grids, grids with axis labels (X/Y/Z plot, Prompt matrix), tiles with
overlap (SD upscale, Poor man's outpainting), and saving grids as ``grid-NNNN.png``. Pure PIL; no options store."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from webui.images.filenames import NameContext
from webui.images.saving import SaveSettings, save_sample


@dataclass(frozen=True)
class GridColors:
    """A1111's options grid_background_color, grid_text_active_color, grid_text_inactive_color."""

    background: str = "#ffffff"
    active: str = "#000000"
    inactive: str = "#999999"


def grid_rows(count: int, batch_size: int = 1, n_rows: int = -1, prevent_empty_spots: bool = False) -> int:
    """Matches A1111 1.10 (images.image_grid): option n_rows > 0 is used as is, 0 means the batch size, -1 the
    rounded square root (or, with grid_prevent_empty_spots, the largest divisor of count not above it)."""
    if n_rows > 0:
        rows = n_rows
    elif n_rows == 0:
        rows = batch_size
    elif prevent_empty_spots:
        rows = max(1, math.floor(math.sqrt(count)))
        while count % rows != 0:
            rows -= 1
    else:
        rows = round(math.sqrt(count))
    return max(1, min(rows, count))


@dataclass
class GridLayout:
    """A grid about to be drawn (A1111's ImageGridLoopParams, same fields): a layout hook may change the images,
    the columns or the rows, and the grid is drawn from what it leaves."""

    imgs: list[Image.Image]
    cols: int
    rows: int


def image_grid(
    images: Sequence[Image.Image],
    batch_size: int = 1,
    rows: int | None = None,
    *,
    n_rows: int = -1,
    prevent_empty_spots: bool = False,
    background: str = "#ffffff",
    on_layout: Callable[[GridLayout], None] | None = None,
) -> Image.Image:
    """Paste images row by row into cells as large as the largest image (smaller ones centred), as A1111;
    `on_layout` (extensions' on_image_grid) sees the layout first and may change it."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    if rows is None:
        rows = grid_rows(len(images), batch_size, n_rows, prevent_empty_spots)
    rows = max(1, min(rows, len(images)))
    layout = GridLayout(list(images), math.ceil(len(images) / rows), rows)
    if on_layout is not None:
        on_layout(layout)
        if not layout.imgs or layout.cols < 1 or layout.rows < 1:
            raise ValueError(f"grid layout needs images and at least one column and row, got {layout}")
    cols, images = layout.cols, layout.imgs
    w, h = (max(sizes) for sizes in zip(*(image.size for image in images), strict=True))
    grid = Image.new("RGB", (cols * w, layout.rows * h), ImageColor.getrgb(background))
    for i, image in enumerate(images):
        dx = 0 if image.width == w else (w - image.width) // 2
        dy = 0 if image.height == h else (h - image.height) // 2
        grid.paste(image, (i % cols * w + dx, i // cols * h + dy))
    return grid


@dataclass
class GridAnnotation:
    """One label line of a grid's axis; inactive ones (prompt matrix parts left out) are grey and struck out."""

    text: str = ""
    is_active: bool = True
    size: tuple[int, int] = (0, 0)
    allowed_width: int = 0


@lru_cache(maxsize=32)
def get_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """PIL's bundled font at `size` (A1111 uses DejaVuSans; offline we use what PIL ships)."""
    return ImageFont.load_default(size=max(1, size))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: object, line_length: int) -> list[str]:
    lines = [""]
    for word in text.split():
        line = f"{lines[-1]} {word}".strip()
        if draw.textlength(line, font=font) <= line_length:  # type: ignore[arg-type]
            lines[-1] = line
        else:
            lines.append(word)
    return lines


def _measure(texts: list[list[GridAnnotation]], allowed: list[int], font: object) -> None:
    """Wrap every label to its cell width and record each line's size (in place)."""
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for lines, allowed_width in zip(texts, allowed, strict=True):
        items = list(lines)
        lines.clear()
        for item in items:
            lines += [GridAnnotation(t, item.is_active) for t in _wrap(draw, item.text, font, allowed_width)]
        for line in lines:
            box = draw.multiline_textbbox((0, 0), line.text, font=font)  # type: ignore[arg-type]
            line.size = (int(box[2] - box[0]), int(box[3] - box[1]))
            line.allowed_width = allowed_width


@dataclass
class _Pen:
    draw: ImageDraw.ImageDraw
    fontsize: int
    spacing: int
    colors: GridColors
    fonts: dict[int, object] = field(default_factory=dict)

    def texts(self, x: float, y: float, lines: list[GridAnnotation]) -> None:
        active, inactive = ImageColor.getrgb(self.colors.active), ImageColor.getrgb(self.colors.inactive)
        for line in lines:
            size = self.fontsize
            font = get_font(size)
            while self.draw.textlength(line.text, font=font) > line.allowed_width and size > 1:  # type: ignore[arg-type]
                size -= 1
                font = get_font(size)
            fill = active if line.is_active else inactive
            self.draw.multiline_text(
                (x, y + line.size[1] / 2), line.text, font=font, fill=fill, anchor="mm", align="center"
            )  # type: ignore[arg-type]
            if not line.is_active:
                half_w, mid = line.size[0] // 2, y + line.size[1] // 2
                self.draw.line((x - half_w, mid, x + half_w, mid), fill=inactive, width=4)
            y += line.size[1] + self.spacing


def draw_grid_annotations(
    im: Image.Image,
    width: int,
    height: int,
    hor_texts: list[list[GridAnnotation]],
    ver_texts: list[list[GridAnnotation]],
    margin: int = 0,
    colors: GridColors | None = None,
) -> Image.Image:
    """Matches A1111 1.10 (images.draw_grid_annotations): labels above each column and left of each row, font size
    (cell width + height) // 25, cells spaced by `margin` pixels."""
    colors = colors or GridColors()
    hor_texts = [list(t) for t in hor_texts]
    ver_texts = [list(t) for t in ver_texts]
    fontsize = (width + height) // 25
    spacing = fontsize // 2
    font = get_font(fontsize)
    pad_left = 0 if sum(len(line.text) for lines in ver_texts for line in lines) == 0 else width * 3 // 4
    cols, rows = im.width // width, im.height // height
    if cols != len(hor_texts) or rows != len(ver_texts):
        raise ValueError(f"grid of {cols}x{rows} cells needs {cols} column and {rows} row labels")
    _measure(hor_texts + ver_texts, [width] * len(hor_texts) + [pad_left] * len(ver_texts), font)
    hor_heights = [sum(line.size[1] + spacing for line in lines) - spacing for lines in hor_texts]
    ver_heights = [sum(line.size[1] + spacing for line in lines) - spacing * len(lines) for lines in ver_texts]
    pad_top = 0 if sum(hor_heights) == 0 else max(hor_heights) + spacing * 2
    result = Image.new(
        "RGB",
        (im.width + pad_left + margin * (cols - 1), im.height + pad_top + margin * (rows - 1)),
        ImageColor.getrgb(colors.background),
    )
    for row in range(rows):
        for col in range(cols):
            cell = im.crop((width * col, height * row, width * (col + 1), height * (row + 1)))
            result.paste(cell, (pad_left + (width + margin) * col, pad_top + (height + margin) * row))
    pen = _Pen(ImageDraw.Draw(result), fontsize, spacing, colors)
    for col in range(cols):
        pen.texts(pad_left + (width + margin) * col + width / 2, pad_top / 2 - hor_heights[col] / 2, hor_texts[col])
    for row in range(rows):
        y = pad_top + (height + margin) * row + height / 2 - ver_heights[row] / 2
        pen.texts(pad_left / 2, y, ver_texts[row])
    return result


def draw_prompt_matrix(
    im: Image.Image, width: int, height: int, parts: Sequence[str], margin: int = 0, colors: GridColors | None = None
) -> Image.Image:
    """Matches A1111 1.10: the variable parts (all but the first) split between the top (first half) and the left;
    each cell's labels show which parts it has (the others grey and struck out)."""
    prompts = list(parts[1:])
    boundary = math.ceil(len(prompts) / 2)
    horiz, vert = prompts[:boundary], prompts[boundary:]
    hor = [[GridAnnotation(x, pos & (1 << i) != 0) for i, x in enumerate(horiz)] for pos in range(1 << len(horiz))]
    ver = [[GridAnnotation(x, pos & (1 << i) != 0) for i, x in enumerate(vert)] for pos in range(1 << len(vert))]
    return draw_grid_annotations(im, width, height, hor, ver, margin, colors)


@dataclass
class Tile:
    x: int
    width: int
    image: Image.Image


@dataclass
class TileRow:
    y: int
    height: int
    tiles: list[Tile]


@dataclass
class TileGrid:
    """An image cut into overlapping tiles (A1111's images.Grid)."""

    rows: list[TileRow]
    tile_w: int
    tile_h: int
    image_w: int
    image_h: int
    overlap: int


def split_grid(image: Image.Image, tile_w: int = 512, tile_h: int = 512, overlap: int = 64) -> TileGrid:
    """Matches A1111 1.10 (images.split_grid): tiles spread evenly so that neighbours overlap by at least
    `overlap` pixels; the last row/column is flush with the image's edge."""
    w, h = image.size
    if tile_w <= overlap or tile_h <= overlap:
        raise ValueError(f"tiles of {tile_w}x{tile_h} cannot overlap by {overlap} pixels")
    cols = max(1, math.ceil((w - overlap) / (tile_w - overlap)))
    rows = max(1, math.ceil((h - overlap) / (tile_h - overlap)))
    dx = (w - tile_w) / (cols - 1) if cols > 1 else 0
    dy = (h - tile_h) / (rows - 1) if rows > 1 else 0
    grid = TileGrid([], tile_w, tile_h, w, h, overlap)
    for row in range(rows):
        y = int(row * dy)
        y = h - tile_h if y + tile_h >= h else y
        tiles = []
        for col in range(cols):
            x = int(col * dx)
            x = w - tile_w if x + tile_w >= w else x
            tiles.append(Tile(x, tile_w, image.crop((x, y, x + tile_w, y + tile_h))))
        grid.rows.append(TileRow(y, tile_h, tiles))
    return grid


def combine_grid(grid: TileGrid) -> Image.Image:
    """Matches A1111 1.10 (images.combine_grid): tiles pasted back with a linear blend over the overlap."""
    overlap = grid.overlap

    def ramp(shape: tuple[int, int], axis: int) -> Image.Image:
        values = np.arange(overlap, dtype=np.float32) * 255 / max(1, overlap)
        values = values.reshape((1, overlap) if axis == 1 else (overlap, 1))
        return Image.fromarray(np.broadcast_to(values, shape).astype(np.uint8), "L")

    mask_w = ramp((grid.tile_h, overlap), 1) if overlap else None
    mask_h = ramp((overlap, grid.image_w), 0) if overlap else None
    combined = Image.new("RGB", (grid.image_w, grid.image_h))
    for row in grid.rows:
        line = Image.new("RGB", (grid.image_w, row.height))
        for tile in row.tiles:
            if tile.x == 0 or mask_w is None:
                line.paste(tile.image, (tile.x, 0))
                continue
            line.paste(tile.image.crop((0, 0, overlap, row.height)), (tile.x, 0), mask=mask_w)
            line.paste(tile.image.crop((overlap, 0, tile.width, row.height)), (tile.x + overlap, 0))
        if row.y == 0 or mask_h is None:
            combined.paste(line, (0, row.y))
            continue
        combined.paste(line.crop((0, 0, line.width, overlap)), (0, row.y), mask=mask_h)
        combined.paste(line.crop((0, overlap, line.width, row.height)), (0, row.y + overlap))
    return combined


def save_grid(
    image: Image.Image,
    base: Path,
    infotext: str | None,
    settings: SaveSettings,
    *,
    basename: str = "grid",
    seed: int | None = None,
    prompt: str = "",
    extended_filename: bool = False,
) -> Path:
    """Matches A1111 1.10 (images.save_image with grid=True): ``<base>/<directories pattern>/<basename>-NNNN.<ext>``
    (with grid_extended_filename, the filename pattern follows the number) and the infotext inside."""
    context = NameContext(seed=seed, prompt=prompt, width=image.width, height=image.height)
    saved = save_sample(
        image, base, infotext, context, settings, basename=basename, short_filename=not extended_filename
    )
    return saved.image
