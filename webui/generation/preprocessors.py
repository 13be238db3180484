"""ControlNet preprocessors ("annotators") under the sd-webui-controlnet extension's names.

The model-free ones are our own OpenCV code in annotator_images.py, written from the extension's behaviour (canny,
invert, shuffle, tile_resample, lineart_standard, threshold, blur_gaussian, scribble_xdog, recolor_*,
t2ia_color_grid). The others run ``controlnet_aux`` detectors whose weight files must be on disk: under
``models/ControlNet/annotators`` (flat, or in the extension's ``downloads/<folder>/`` layout) or in the extension's
own ``annotator/downloads``. The ip-adapter_clip_* ones pass the image on; generation.ip_adapter encodes it with
their CLIP image encoder. Finding, downloading (on first use) and loading their files is annotators.Annotators'
job; a missing file that will not be downloaded is reported as "needs file X" before a job is queued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from webui.generation.annotator_images import (
    PreprocessInput,
    blur_gaussian_map,
    canny_map,
    color_grid_map,
    hwc3,
    invert_map,
    lineart_standard_map,
    none_map,
    recolor_map,
    resize_with_pad,
    scribble_xdog_map,
    shuffle_map,
    threshold_map,
    tile_resample_map,
)
from webui.generation.face_embed import face_crop_map, face_embedder_problem

if TYPE_CHECKING:
    from webui.generation.annotators import Annotators

ANNOTATOR_REPO = "lllyasviel/Annotators"


@dataclass(frozen=True)
class Slider:
    """One of a preprocessor's sliders as the extension describes it (its /controlnet/module_list "sliders")."""

    name: str
    value: float
    minimum: float
    maximum: float
    step: float = 1.0
    visible: bool = True

    def clamp(self, value: float) -> float:
        """Matches the extension: a value outside the slider's range (-1 = "default") becomes the default."""
        return self.value if value < self.minimum or value > self.maximum else value

    def api_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "min": self.minimum, "max": self.maximum, "step": self.step}


@dataclass(frozen=True)
class WeightFile:
    """A weight file a preprocessor needs. `folder` is the extension's annotator/downloads/<folder>. Size and
    sha256 are filled in where they were measured; None means "not verified" (presence is still checked)."""

    filename: str
    folder: str
    repo: str = ANNOTATOR_REPO
    size: int | None = None
    sha256: str | None = None
    source: str | None = None  # the file's path in `repo` when it differs from `filename`

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo}/resolve/main/{self.source or self.filename}"


Runner = Callable[[PreprocessInput, "Annotators"], np.ndarray]

RESOLUTION = Slider("Resolution", 512, 64, 2048, 8)
NO_RESOLUTION = Slider("Resolution", 512, 64, 2048, 8, visible=False)
HIDDEN = Slider("", 0.5, 0.0, 1.0, 0.01, visible=False)


@dataclass(frozen=True)
class Preprocessor:
    name: str  # the extension's internal name (what the API's module_list gives)
    label: str  # what its UI shows (module_list?alias_names=true); both are accepted as `module`
    run: Runner
    resolution: Slider = RESOLUTION
    slider_1: Slider = HIDDEN
    slider_2: Slider = HIDDEN
    files: tuple[WeightFile, ...] = ()
    requires: Callable[[Annotators, Preprocessor], str | None] | None = None  # a need beyond files: its problem
    requires_name: str = ""  # that need in a word, for the dropdown's "(needs …)"

    def sliders(self) -> list[Slider]:
        return [s for s in (self.resolution, self.slider_1, self.slider_2) if s.visible]

    def resolve(self, resolution: float, threshold_a: float, threshold_b: float) -> tuple[int, float, float]:
        """(processor_res, threshold_a, threshold_b) after the extension's bound check (-1 = default)."""
        return (
            int(self.resolution.clamp(resolution)),
            float(self.slider_1.clamp(threshold_a)),
            float(self.slider_2.clamp(threshold_b)),
        )


# -- controlnet_aux detectors (need weight files) --------------------------------------------------------------
def _detector(
    key: str, module: str, cls_name: str, load_kwargs: dict[str, str], call_kwargs: Callable[[PreprocessInput], dict]
) -> Runner:
    """A runner that loads `controlnet_aux.<module>.<cls_name>` from the found files (cached in Annotators) and
    calls it on the padded image at its own size, cropping the pad afterwards, as the extension does."""

    def run(inp: PreprocessInput, annotators: Annotators) -> np.ndarray:
        def load() -> Any:
            import importlib
            import warnings

            with warnings.catch_warnings():  # controlnet_aux imports every detector, with deprecation noise
                warnings.simplefilter("ignore")
                cls = getattr(importlib.import_module(f"controlnet_aux.{module}"), cls_name)
            paths = {arg: inp.weights[name] for arg, name in load_kwargs.items()}
            folder = str(next(iter(paths.values())).parent)
            detector = cls.from_pretrained(folder, **{arg: str(path) for arg, path in paths.items()})
            moved = detector.to(annotators.device) if hasattr(detector, "to") else None
            return moved if moved is not None else detector

        detector = annotators.detector(key, load)
        img, unpad = resize_with_pad(inp.image, inp.resolution)
        side = min(img.shape[:2])
        out = detector(img, detect_resolution=side, image_resolution=side, output_type="np", **call_kwargs(inp))
        out = np.asarray(out)
        if out.shape[:2] != img.shape[:2]:
            out = cv2.resize(out, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
        return unpad(hwc3(out))

    return run


def _no_args(_: PreprocessInput) -> dict:
    return {}


HED = WeightFile("ControlNetHED.pth", "hed")
PIDINET = WeightFile("table5_pidinet.pth", "pidinet")
MIDAS = WeightFile("dpt_hybrid-midas-501f0c75.pt", "midas")
LERES = (WeightFile("res101.pth", "leres"), WeightFile("latest_net_G.pth", "leres"))
ZOE = WeightFile("ZoeD_M12_N.pt", "zoedepth")
LINEART = (WeightFile("sk_model.pth", "lineart"), WeightFile("sk_model2.pth", "lineart"))
LINEART_ANIME = WeightFile("netG.pth", "lineart_anime")
MLSD = WeightFile("mlsd_large_512_fp32.pth", "mlsd")
NORMAL_BAE = WeightFile("scannet.pt", "normal_bae")
OPENPOSE = (
    WeightFile("body_pose_model.pth", "openpose"),
    WeightFile("hand_pose_model.pth", "openpose"),
    WeightFile("facenet.pth", "openpose"),
)
# The extension's clip_vision downloads: ViT-H/14 (h94's IP-Adapter image encoder) and ViT-bigG/14.
CLIP_H = WeightFile("clip_h.pth", "clip_vision", "h94/IP-Adapter", source="models/image_encoder/pytorch_model.bin")
CLIP_G = WeightFile("clip_g.pth", "clip_vision")
LAMA = WeightFile("ControlNetLama.pth", "lama")  # big-lama, run by our generation.lama
_OPENPOSE_LOAD = {"filename": "body_pose_model.pth", "hand_filename": "hand_pose_model.pth",
                  "face_filename": "facenet.pth"}  # fmt: skip
_LERES_LOAD = {"filename": "res101.pth", "pix2pix_filename": "latest_net_G.pth"}
_LINEART_LOAD = {"filename": "sk_model.pth", "coarse_filename": "sk_model2.pth"}
_REMOVE = (Slider("Remove Near %", 0, 0, 100, 0.1), Slider("Remove Background %", 0, 0, 100, 0.1))


def _openpose(body: bool, hand: bool, face: bool) -> Runner:
    args = {"include_body": body, "include_hand": hand, "include_face": face}
    return _detector("openpose", "open_pose", "OpenposeDetector", _OPENPOSE_LOAD, lambda _: args)


def _hed(**args: Any) -> Runner:
    return _detector("hed", "hed", "HEDdetector", {"filename": HED.filename}, lambda _: args)


def _pidinet(**args: Any) -> Runner:
    return _detector("pidinet", "pidi", "PidiNetDetector", {"filename": PIDINET.filename}, lambda _: args)


def _leres(boost: bool) -> Runner:
    call = lambda inp: {"thr_a": inp.threshold_a, "thr_b": inp.threshold_b, "boost": boost}  # noqa: E731
    return _detector("leres", "leres", "LeresDetector", _LERES_LOAD, call)


def _lineart(coarse: bool) -> Runner:
    return _detector("lineart", "lineart", "LineartDetector", _LINEART_LOAD, lambda _: {"coarse": coarse})


def _lama_fill(inp: PreprocessInput, annotators: Annotators) -> np.ndarray:
    """inpaint_only+lama: the image with its masked pixels filled by LaMa (without a mask, the image itself)."""
    if inp.mask is None or not inp.mask.any():
        return inp.image
    from webui.generation.lama import fill_with_lama, load_lama

    model = annotators.detector("lama", lambda: load_lama(inp.weights[LAMA.filename], annotators.device))
    return fill_with_lama(model, inp.image, inp.mask)


PREPROCESSORS: tuple[Preprocessor, ...] = (
    Preprocessor("none", "none", none_map, resolution=NO_RESOLUTION),
    Preprocessor("invert", "invert (from white bg & black line)", invert_map, resolution=NO_RESOLUTION),
    Preprocessor(
        "canny", "canny", canny_map,
        slider_1=Slider("Canny Low Threshold", 100, 1, 255), slider_2=Slider("Canny High Threshold", 200, 1, 255),
    ),
    Preprocessor("shuffle", "shuffle", shuffle_map),
    Preprocessor(
        "tile_resample", "tile_resample", tile_resample_map, resolution=NO_RESOLUTION,
        slider_1=Slider("Down Sampling Rate", 1.0, 1.0, 8.0, 0.01),
    ),
    Preprocessor("lineart_standard", "lineart_standard (from white bg & black line)", lineart_standard_map),
    Preprocessor("threshold", "threshold", threshold_map, slider_1=Slider("Binarization Threshold", 127, 0, 255)),
    Preprocessor("blur_gaussian", "blur_gaussian", blur_gaussian_map, slider_1=Slider("Sigma", 9.0, 0.01, 64.0, 0.01)),
    Preprocessor("scribble_xdog", "scribble_xdog", scribble_xdog_map, slider_1=Slider("XDoG Threshold", 32, 1, 64)),
    Preprocessor(
        "recolor_luminance", "recolor_luminance", recolor_map(cv2.COLOR_BGR2LAB, 0), resolution=NO_RESOLUTION,
        slider_1=Slider("Gamma Correction", 1.0, 0.1, 2.0, 0.001),
    ),
    Preprocessor(
        "recolor_intensity", "recolor_intensity", recolor_map(cv2.COLOR_BGR2HSV, 2), resolution=NO_RESOLUTION,
        slider_1=Slider("Gamma Correction", 1.0, 0.1, 2.0, 0.001),
    ),
    Preprocessor("hed", "softedge_hed", _hed(safe=False), files=(HED,)),
    Preprocessor("hed_safe", "softedge_hedsafe", _hed(safe=True), files=(HED,)),
    Preprocessor("scribble_hed", "scribble_hed", _hed(scribble=True), files=(HED,)),
    Preprocessor("pidinet", "softedge_pidinet", _pidinet(safe=False), files=(PIDINET,)),
    Preprocessor("pidinet_sketch", "t2ia_sketch_pidi", _pidinet(apply_filter=True), files=(PIDINET,)),
    Preprocessor("color", "t2ia_color_grid", color_grid_map),
    Preprocessor("pidinet_safe", "softedge_pidisafe", _pidinet(safe=True), files=(PIDINET,)),
    Preprocessor("scribble_pidinet", "scribble_pidinet", _pidinet(scribble=True), files=(PIDINET,)),
    Preprocessor(
        "depth", "depth_midas",
        _detector("midas", "midas", "MidasDetector", {"filename": MIDAS.filename}, _no_args), files=(MIDAS,),
    ),
    Preprocessor("depth_leres", "depth_leres", _leres(False), slider_1=_REMOVE[0], slider_2=_REMOVE[1], files=LERES),
    Preprocessor(
        "depth_leres++", "depth_leres++", _leres(True), slider_1=_REMOVE[0], slider_2=_REMOVE[1], files=LERES
    ),
    Preprocessor(
        "depth_zoe", "depth_zoe",
        _detector("zoe", "zoe", "ZoeDetector", {"filename": ZOE.filename}, _no_args), files=(ZOE,),
    ),
    Preprocessor("normal_bae", "normal_bae", _detector(
        "normal_bae", "normalbae", "NormalBaeDetector", {"filename": NORMAL_BAE.filename}, _no_args
    ), files=(NORMAL_BAE,)),
    Preprocessor("lineart", "lineart_realistic", _lineart(False), files=LINEART),
    Preprocessor("lineart_coarse", "lineart_coarse", _lineart(True), files=LINEART),
    Preprocessor("lineart_anime", "lineart_anime", _detector(
        "lineart_anime", "lineart_anime", "LineartAnimeDetector", {"filename": LINEART_ANIME.filename}, _no_args
    ), files=(LINEART_ANIME,)),
    Preprocessor(
        "mlsd", "mlsd",
        _detector("mlsd", "mlsd", "MLSDdetector", {"filename": MLSD.filename},
                  lambda inp: {"thr_v": inp.threshold_a, "thr_d": inp.threshold_b}),
        slider_1=Slider("MLSD Value Threshold", 0.1, 0.01, 2.0, 0.01),
        slider_2=Slider("MLSD Distance Threshold", 0.1, 0.01, 20.0, 0.01),
        files=(MLSD,),
    ),
    Preprocessor("openpose", "openpose", _openpose(True, False, False), files=OPENPOSE),
    Preprocessor("openpose_face", "openpose_face", _openpose(True, False, True), files=OPENPOSE),
    Preprocessor("openpose_faceonly", "openpose_faceonly", _openpose(False, False, True), files=OPENPOSE),
    Preprocessor("openpose_full", "openpose_full", _openpose(True, True, True), files=OPENPOSE),
    Preprocessor("openpose_hand", "openpose_hand", _openpose(True, True, False), files=OPENPOSE),
    # ControlNet inpaint: the map is the image; generation.controlnet_inpaint sets the masked pixels to -1.
    Preprocessor("inpaint", "inpaint_global_harmonious", none_map, resolution=NO_RESOLUTION),
    Preprocessor("inpaint_only", "inpaint_only", none_map, resolution=NO_RESOLUTION),
    # inpaint_only+lama: the masked pixels pre-filled by LaMa (the unit's mask reaches it as PreprocessInput.mask).
    Preprocessor("inpaint_only+lama", "inpaint_only+lama", _lama_fill, resolution=NO_RESOLUTION, files=(LAMA,)),
    # IP-Adapter: the map is the image itself; generation.ip_adapter encodes it with the CLIP image encoder.
    Preprocessor("ip-adapter_clip_sd15", "ip-adapter_clip_sd15", none_map, resolution=NO_RESOLUTION, files=(CLIP_H,)),
    Preprocessor("ip-adapter_clip_sdxl", "ip-adapter_clip_sdxl", none_map, resolution=NO_RESOLUTION, files=(CLIP_G,)),
    Preprocessor("ip-adapter_clip_sdxl_plus_vith", "ip-adapter_clip_sdxl_plus_vith", none_map,
                 resolution=NO_RESOLUTION, files=(CLIP_H,)),
    # IP-Adapter FaceID (generation.face_embed): the map is the aligned face; the plus variant also CLIP-encodes it.
    Preprocessor("ip-adapter_face_id", "ip-adapter_face_id", face_crop_map, resolution=NO_RESOLUTION,
                 requires=face_embedder_problem, requires_name="insightface"),
    Preprocessor("ip-adapter_face_id_plus", "ip-adapter_face_id_plus", face_crop_map, resolution=NO_RESOLUTION,
                 files=(CLIP_H,), requires=face_embedder_problem, requires_name="insightface"),
)  # fmt: skip


def weight_manifest() -> list[WeightFile]:
    """Every weight file any preprocessor needs, once each (the offline manifest)."""
    seen: dict[str, WeightFile] = {}
    for pre in PREPROCESSORS:
        for file in pre.files:
            seen.setdefault(file.filename, file)
    return list(seen.values())


def find_preprocessor(name: str) -> Preprocessor | None:
    """By internal name or UI label (as the extension's get_preprocessor), case-insensitively as a fallback."""
    for pre in PREPROCESSORS:
        if name in (pre.name, pre.label):
            return pre
    lowered = name.strip().lower()
    return next((p for p in PREPROCESSORS if lowered in (p.name.lower(), p.label.lower())), None)
