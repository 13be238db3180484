"""IP-Adapter FaceID units as the sd-webui-controlnet extension runs them (ip-adapter_face_id /
ip-adapter_face_id_plus with h94's IP-Adapter-FaceID files), on the tiny models.

insightface is not installed here, so the face embedder is a deterministic stand-in set through the
FaceEmbedder boundary (Annotators.face_embedder); the adapter files, the loader, the UNet and the sampler are the
real ones. Without an embedder the FaceID preprocessors are unavailable with a clear message.
"""

from __future__ import annotations

import sys
import zlib
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_api_controlnet import b64
from tests.generation.test_controlnet import run, shapes, unit
from webui.core.errors import InvalidRequest, UserError
from webui.core.types import Size
from webui.generation.face_embed import FaceEmbedding, face_embedder
from webui.generation.preprocessors import find_preprocessor
from webui.generation.request import Txt2ImgRequest
from webui.models.identify import CONFIGS_DIR
from webui.models.loaders.controlnet import load_controlnet
from webui.models.loaders.lora import ModuleIndex, load_lora, resolve_lora
from webui.models.records import ModelFormat, ModelKind, ModelRecord
from webui.models.tiny_control import tiny_clip_vision, tiny_ip_adapter
from webui.models.tiny_faceid import faceid_lora_file, tiny_faceid_adapter

FACEID = "ip-adapter-faceid_sd15"
PLUS_V2 = "ip-adapter-faceid-plusv2_sd15"
UNAVAILABLE = "needs the insightface package and models/insightface/models/buffalo_l"


class SeededFaceEmbedder:
    """Stand-in for insightface: a unit-length embedding seeded by the picture's bytes (and `salt`), and the
    picture resized to 224 as the "aligned face"."""

    def __init__(self, salt: int = 0) -> None:
        self.salt = salt

    def embed(self, image: np.ndarray) -> FaceEmbedding:
        rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(image).tobytes()) + self.salt)
        vector = rng.standard_normal(512).astype(np.float32)
        crop = cv2.resize(image, (224, 224), interpolation=cv2.INTER_AREA)
        return FaceEmbedding(vector / np.linalg.norm(vector), crop)


def tiny_unet(name: str = "tiny-sd15") -> Any:
    return UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(CONFIGS_DIR / name / "unet"))


def write_faceid_files(app: Any) -> None:
    """h94's files as a user downloads them: the adapters into models/ControlNet, CLIP-H as the extension's
    clip_h.pth, and the companion LoRA into models/Lora."""
    from safetensors.torch import save_file

    unet = tiny_unet()
    (app.paths.controlnet / "annotators" / "clip_vision").mkdir(parents=True, exist_ok=True)
    torch.save(
        tiny_clip_vision(seed=8).state_dict(), app.paths.controlnet / "annotators" / "clip_vision" / "clip_h.pth"
    )
    faceid = tiny_faceid_adapter(unet, seed=21)
    torch.save(faceid, app.paths.controlnet / f"{FACEID}.bin")
    plus = tiny_faceid_adapter(unet, seed=22, plus=True)
    torch.save(plus, app.paths.controlnet / f"{PLUS_V2}.bin")
    torch.save(plus, app.paths.controlnet / "ip-adapter-faceid-plus_sd15.bin")  # same weights, v1: no shortcut
    save_file(faceid_lora_file(unet, faceid), str(app.paths.lora / f"{FACEID}_lora.safetensors"))


@pytest.fixture
def face_app(app_factory):
    app = app_factory()
    write_faceid_files(app)
    app.generation.controlnet.annotators.face_embedder = SeededFaceEmbedder()
    return app


def face_unit(model: str = FACEID, **kw: object):
    module = "ip-adapter_face_id_plus" if "plus" in model else "ip-adapter_face_id"
    return unit(**({"module": module, "model": model} | kw))


def test_faceid_files_load_through_the_real_loader(tmp_path) -> None:
    unet = tiny_unet()
    paths = {
        FACEID: tiny_faceid_adapter(unet, seed=1),
        PLUS_V2: tiny_faceid_adapter(unet, seed=2, plus=True),
        "ip-adapter-faceid-plus_sd15": tiny_faceid_adapter(unet, seed=2, plus=True),
        "ip-adapter-faceid-portrait_sd15": tiny_faceid_adapter(unet, seed=3, tokens=16),
    }
    loaded = {}
    for name, state in paths.items():
        torch.save(state, tmp_path / f"{name}.bin")
        record = ModelRecord(ModelKind.CONTROLNET, tmp_path / f"{name}.bin", tmp_path, ModelFormat.PICKLE)
        loaded[name] = load_controlnet(record)
    faceid = loaded[FACEID]
    assert faceid.kind == "ip_adapter" and faceid.family == "sd1"
    assert faceid.model.is_faceid and not faceid.model.is_faceid_plus and faceid.model.cross_attention_dim == 32
    assert not any("lora" in key for key in faceid.model.state["ip_adapter"])  # the bundled LoRA is the user's choice
    assert loaded[PLUS_V2].model.is_faceid_plus and loaded[PLUS_V2].model.shortcut
    assert not loaded["ip-adapter-faceid-plus_sd15"].model.shortcut
    assert loaded["ip-adapter-faceid-portrait_sd15"].model.is_faceid


def test_faceid_weight_zero_is_no_unit_and_the_embedding_drives_the_image(face_app) -> None:
    plain = run(face_app)
    assert np.array_equal(run(face_app, face_unit(weight=0.0)), plain)
    one = run(face_app, face_unit())
    assert np.abs(one - plain).mean() > 1
    assert np.array_equal(run(face_app), plain)  # the UNet is restored after the job
    # same picture, another face embedding
    face_app.generation.controlnet.annotators.face_embedder = SeededFaceEmbedder(salt=1)
    other = run(face_app, face_unit())
    assert np.abs(other - one).mean() > 0.5


def test_faceid_plus_v2_uses_embedding_clip_and_shortcut(face_app) -> None:
    plain = run(face_app)
    assert np.array_equal(run(face_app, face_unit(PLUS_V2, weight=0.0)), plain)
    v2 = run(face_app, face_unit(PLUS_V2))
    assert np.abs(v2 - plain).mean() > 1
    assert not np.array_equal(v2, run(face_app, face_unit("ip-adapter-faceid-plus_sd15")))  # no shortcut in v1
    face_app.generation.controlnet.annotators.face_embedder = SeededFaceEmbedder(salt=1)
    assert not np.array_equal(v2, run(face_app, face_unit(PLUS_V2)))


def test_companion_lora_from_the_prompt_applies(face_app) -> None:
    with_unit = run(face_app, face_unit())
    prompt = f"a cat <lora:{FACEID}_lora:0.6>"
    request = Txt2ImgRequest(prompt=prompt, seed=3, steps=3, size=Size(64, 64), sampler="Euler", save_images=False,
                             controls=(face_unit(),))  # fmt: skip
    result = face_app.generation.run_sync(request)
    with_lora = np.asarray(result.images[0]).astype(np.int16)
    assert np.abs(with_lora - with_unit).mean() > 0.5
    assert f"{FACEID}_lora: " in result.infotexts[0]  # Lora hashes
    lora = load_lora(face_app.paths.lora / f"{FACEID}_lora.safetensors")
    unet = tiny_unet()
    resolution = resolve_lora(lora, None, index=ModuleIndex({"unet": unet}))
    assert not resolution.unmatched and len(resolution.targets) == len(lora.modules) == 4 * len(unet.attn_processors)


def test_faceid_on_sdxl(face_app) -> None:
    torch.save(
        tiny_faceid_adapter(tiny_unet("tiny-sdxl"), seed=23), face_app.paths.controlnet / "ip-adapter-faceid_sdxl.bin"
    )
    sdxl = dict(checkpoint="tiny-sdxl.safetensors")
    plain = run(face_app, **sdxl)
    assert np.abs(run(face_app, face_unit("ip-adapter-faceid_sdxl"), **sdxl) - plain).mean() > 1
    with pytest.raises(UserError, match="is made for .* models, but checkpoint .tiny-sd15."):
        run(face_app, face_unit("ip-adapter-faceid_sdxl"))


def test_pairings_that_cannot_work_are_clear_errors(face_app) -> None:
    torch.save(tiny_ip_adapter(tiny_unet(), 32, seed=9), face_app.paths.controlnet / "ip-adapter_tiny.bin")
    with pytest.raises(UserError, match="needs the ip-adapter_face_id preprocessor"):
        run(face_app, face_unit(module="ip-adapter_clip_sd15"))
    with pytest.raises(UserError, match="needs the ip-adapter_face_id_plus preprocessor"):
        run(face_app, face_unit(PLUS_V2, module="ip-adapter_face_id"))
    with pytest.raises(UserError, match="needs an IP-Adapter FaceID model"):
        run(face_app, face_unit("ip-adapter_tiny"))
    with pytest.raises(UserError, match="needs an IP-Adapter model"):
        run(face_app, face_unit("tiny-controlnet"))


def test_the_detected_map_is_the_aligned_face(face_app) -> None:
    maps = face_app.generation.controlnet.detect("ip-adapter_face_id", [shapes()])
    assert maps[0].size == (224, 224)


def test_without_insightface_the_preprocessors_are_unavailable_with_a_clear_message(app_factory) -> None:
    from webui.api.router import install_api

    app = app_factory(api=True)
    write_faceid_files(app)
    problem = app.generation.controlnet.annotators.problem(find_preprocessor("ip-adapter_face_id"))
    assert problem is not None and UNAVAILABLE in problem and "insightface package" in problem
    with pytest.raises(InvalidRequest, match=UNAVAILABLE):
        run(app, face_unit())
    server = FastAPI()
    install_api(server, app)
    client = TestClient(server)
    detail = client.get("/controlnet/module_list").json()["module_detail"]
    assert not detail["ip-adapter_face_id"]["available"] and not detail["ip-adapter_face_id_plus"]["available"]
    detect = client.post("/controlnet/detect", json={"controlnet_module": "ip-adapter_face_id",
                                                     "controlnet_input_images": [b64(shapes())]})  # fmt: skip
    assert detect.status_code == 422 and UNAVAILABLE in detect.json()["detail"]
    body = {"prompt": "a cat", "width": 64, "height": 64, "steps": 2, "sampler_name": "Euler"}
    job = client.post("/sdapi/v1/txt2img", json=body | {"alwayson_scripts": {"controlnet": {"args": [
        {"enabled": True, "module": "ip-adapter_face_id", "model": FACEID, "image": b64(shapes())}]}}})  # fmt: skip
    assert 400 <= job.status_code < 500 and UNAVAILABLE in job.text
    assert client.post("/sdapi/v1/txt2img", json=body).status_code == 200  # the server keeps serving


# -- the insightface-backed embedder, with a stand-in insightface package ---------------------------------------------
def fake_insightface(monkeypatch: pytest.MonkeyPatch, seen: dict[str, Any]) -> None:
    """Modules named insightface / onnxruntime with FaceAnalysis (two faces, the second larger) and norm_crop, so
    that InsightFaceEmbedder's own code runs: model root, colour order, largest face, crop."""
    import importlib.machinery
    import types

    class Face:
        def __init__(self, bbox: list[float], value: float) -> None:
            self.bbox, self.kps = np.array(bbox), np.zeros((5, 2))
            self.normed_embedding = np.full(512, value, dtype=np.float32)

    class FaceAnalysis:
        def __init__(self, name: str, root: str, providers: list[str], allowed_modules: list[str]) -> None:
            seen.update(name=name, root=root, providers=providers)

        def prepare(self, ctx_id: int, det_size: tuple[int, int]) -> None:
            seen.update(ctx_id=ctx_id)

        def get(self, bgr: np.ndarray) -> list[Face]:
            seen["bgr"] = bgr
            return [Face([0, 0, 10, 10], 0.1), Face([0, 0, 40, 40], 0.2)]

    def norm_crop(img: np.ndarray, landmark: np.ndarray, image_size: int) -> np.ndarray:
        return cv2.resize(img, (image_size, image_size), interpolation=cv2.INTER_AREA)

    modules = {
        "insightface": types.ModuleType("insightface"),
        "insightface.app": types.ModuleType("insightface.app"),
        "insightface.utils": types.ModuleType("insightface.utils"),
        "insightface.utils.face_align": types.ModuleType("insightface.utils.face_align"),
        "onnxruntime": types.ModuleType("onnxruntime"),
    }
    for name, module in modules.items():
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        monkeypatch.setitem(sys.modules, name, module)
    modules["insightface.app"].FaceAnalysis = FaceAnalysis
    modules["insightface.utils.face_align"].norm_crop = norm_crop
    modules["insightface.utils"].face_align = modules["insightface.utils.face_align"]


def test_insightface_embedder_from_models_insightface(app_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    fake_insightface(monkeypatch, seen)
    app = app_factory()
    write_faceid_files(app)
    pre = find_preprocessor("ip-adapter_face_id")
    problem = app.generation.controlnet.annotators.problem(pre)
    assert problem is not None and "models/buffalo_l" in problem and "package" not in problem.split("missing:")[1]
    pack = app.paths.controlnet.parent / "insightface" / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    (pack / "det_10g.onnx").write_bytes(b"onnx")
    assert app.generation.controlnet.annotators.problem(pre) is None
    picture = shapes()
    (face,) = app.generation.controlnet.detect("ip-adapter_face_id", [picture])
    assert seen["name"] == "buffalo_l" and seen["root"] == str(pack.parent.parent)
    assert np.array_equal(seen["bgr"], np.asarray(picture)[:, :, ::-1])  # insightface gets BGR
    expected = cv2.resize(np.asarray(picture), (224, 224), interpolation=cv2.INTER_AREA)
    assert np.abs(np.asarray(face).astype(np.int16) - expected).max() <= 1  # the crop comes back as RGB
    embedder = face_embedder(app.generation.controlnet.annotators)
    assert embedder.embed(np.asarray(picture)).embedding[0] == np.float32(0.2)
    plain = run(app)
    assert np.abs(run(app, face_unit()) - plain).mean() > 1
