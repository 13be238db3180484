"""How the API writes responses: base64 PNGs with their own infotext, in order (batches are encoded in parallel),
previews encoded once for all pollers, JSON that clients parse as before."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from webui.api.responses import ApiJSONResponse, PreviewEncoder, images_base64, png_base64


def decode(data: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return image


def test_a_batch_keeps_its_order_and_each_image_its_own_infotext() -> None:
    images = [Image.new("RGB", (48, 32), (40 * i, 255 - 40 * i, 7)) for i in range(5)]
    infotexts = [f"a red car\nSteps: 4, Seed: {100 + i}" for i in range(5)]
    encoded = images_base64(images, infotexts)
    assert len(encoded) == 5
    for i, data in enumerate(encoded):
        image = decode(data)
        assert image.format == "PNG" and image.size == (48, 32)
        assert image.getpixel((0, 0)) == (40 * i, 255 - 40 * i, 7)
        assert image.info["parameters"] == infotexts[i]


def test_one_image_object_listed_twice_gets_each_infotext() -> None:
    image = Image.new("RGB", (16, 16), "blue")
    first, second = images_base64([image, image], ["first", "second ✓"])  # non-latin-1: an iTXt chunk
    assert decode(first).info["parameters"] == "first" and decode(second).info["parameters"] == "second ✓"
    assert "parameters" not in decode(png_base64(image)).info


def test_json_is_what_json_dumps_would_parse_to() -> None:
    content = {"images": ["aGk="], "info": json.dumps({"seed": 1}), "parameters": {"prompt": "ünïcode", "n": 1.5}}
    body = ApiJSONResponse(content).body
    assert json.loads(body) == content
    assert "ünïcode".encode() in body  # UTF-8, not \\u escapes, as Starlette's JSONResponse
    assert json.loads(ApiJSONResponse({"eta": float("nan")}).body) == {"eta": None}  # not a 500


def test_a_preview_is_encoded_once_for_every_poller() -> None:
    encode = PreviewEncoder()
    preview = Image.new("RGB", (8, 8), "red")
    first = encode(preview)
    assert encode(preview) is first  # the same string: not encoded again
    newer = Image.new("RGB", (8, 8), "green")
    assert decode(encode(newer)).getpixel((0, 0)) == (0, 128, 0)
