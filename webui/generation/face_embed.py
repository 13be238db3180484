"""The face-embedding boundary of the IP-Adapter FaceID preprocessors (the sd-webui-controlnet extension's
``ip-adapter_face_id`` and ``ip-adapter_face_id_plus``).

A :class:`FaceEmbedder` turns an RGB picture into the largest face's ArcFace embedding (512 values, L2-normed, as
insightface's ``normed_embedding``) and that face aligned and cropped to 224 pixels (``norm_crop`` on its five
landmarks), which the plus variants also pass through the CLIP image encoder, as h94's IP-Adapter-FaceID does.

The real embedder is insightface's ``FaceAnalysis`` with the ``buffalo_l`` model pack, imported only when first
used. It needs the ``insightface`` package (with ``onnxruntime``) and the pack's ``.onnx`` files in
``models/insightface/models/buffalo_l`` (the A1111 / Forge place; the extension's
``annotator/downloads/insightface/models/buffalo_l`` and ``models/ControlNet/annotators/insightface/...`` are also
looked at). Without them the FaceID preprocessors are unavailable with a message that says what is missing,
reported before a job is queued (:func:`face_embedder_problem`); nothing is downloaded. Tests and extensions can
set ``Annotators.face_embedder`` to another embedder: that is the whole boundary, the pipeline is the same.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from webui.core.errors import UserError

if TYPE_CHECKING:
    from webui.generation.annotator_images import PreprocessInput
    from webui.generation.annotators import Annotators
    from webui.generation.preprocessors import Preprocessor

log = logging.getLogger(__name__)

MODEL_PACK = "buffalo_l"
CROP_SIZE = 224  # h94's FaceID plus: face_align.norm_crop(image, landmark=face.kps, image_size=224)
DETECTION_SIZE = (640, 640)  # the extension's FaceAnalysis.prepare(det_size=(640, 640))
PACK_URL = "https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip"


class FaceEmbedderMissing(UserError):
    """insightface or its buffalo_l models are not installed: the FaceID preprocessors cannot run."""

    status_code = 422


class NoFaceFound(UserError):
    status_code = 422


@dataclass(frozen=True)
class FaceEmbedding:
    embedding: np.ndarray  # (512,) float32, L2-normed
    crop: np.ndarray  # (224, 224, 3) uint8 RGB: the face aligned on its landmarks


class FaceEmbedder(Protocol):
    def embed(self, image: np.ndarray) -> FaceEmbedding:
        """The largest face of an RGB uint8 (h, w, 3) picture; NoFaceFound when there is none."""
        ...


def insightface_roots(folders: list[Path]) -> list[Path]:
    """Where an ``insightface/models/buffalo_l`` folder is looked for: ``models/insightface`` (beside
    ``models/ControlNet``, from the first annotator folder ``models/ControlNet/annotators``), then the
    ``insightface`` folder inside each annotator folder (the extension's ``annotator/downloads/insightface``)."""
    roots = [folders[0].parent.parent / "insightface"] if folders else []
    return roots + [folder / "insightface" for folder in folders]


def model_pack_dir(folders: list[Path]) -> Path | None:
    """The first root whose ``models/buffalo_l`` holds .onnx files, as insightface's FaceAnalysis(root=...) reads."""
    for root in insightface_roots(folders):
        pack = root / "models" / MODEL_PACK
        if pack.is_dir() and any(pack.glob("*.onnx")):
            return root
    return None


def insightface_missing(folders: list[Path]) -> list[str]:
    """What the insightface embedder still needs: the packages and/or the model pack ([] when it can run)."""
    packages = ("insightface", "onnxruntime")
    needs = [f"the {name} package" for name in packages if importlib.util.find_spec(name) is None]
    if model_pack_dir(folders) is None:
        where = insightface_roots(folders)[0] if folders else Path("models/insightface")
        needs.append(f"{where / 'models' / MODEL_PACK} (the .onnx files of {PACK_URL})")
    return needs


def face_embedder_problem(annotators: Annotators, pre: Preprocessor) -> str | None:
    """Why a FaceID preprocessor cannot run here, or None (always None when an embedder was set)."""
    if annotators.face_embedder is not None:
        return None
    missing = insightface_missing(annotators.folders)
    if not missing:
        return None
    return (
        f"Preprocessor '{pre.label}' needs the insightface package and models/insightface/models/{MODEL_PACK} "
        f"(insightface's face detection and ArcFace models); missing: {'; '.join(missing)}"
    )


def face_embedder(annotators: Annotators) -> FaceEmbedder:
    """The app's face embedder: the one set on the annotators, else insightface (loaded once, kept with them)."""
    if annotators.face_embedder is not None:
        return annotators.face_embedder
    missing = insightface_missing(annotators.folders)
    root = model_pack_dir(annotators.folders)
    if missing or root is None:
        raise FaceEmbedderMissing(
            f"FaceID preprocessors need the insightface package and models/insightface/models/{MODEL_PACK}; "
            f"missing: {'; '.join(missing)}"
        )
    device = str(annotators.device)
    return annotators.detector(f"insightface:{MODEL_PACK}", lambda: InsightFaceEmbedder(root, device))


def face_crop_map(inp: PreprocessInput, annotators: Annotators) -> np.ndarray:
    """The FaceID preprocessors' detected map: the aligned face the adapter will see."""
    return face_embedder(annotators).embed(inp.image).crop


@dataclass
class InsightFaceEmbedder:
    """insightface's FaceAnalysis (detection + recognition of ``buffalo_l``) on onnxruntime, CUDA when the app's
    device is; remembers the last picture's result (the detected map and the image prompt embed the same one)."""

    root: Path
    device: str = "cpu"
    _analysis: Any = None
    _last: tuple[str, FaceEmbedding] | None = field(default=None, repr=False)

    def _load(self) -> Any:
        from insightface.app import FaceAnalysis

        cuda = self.device.startswith("cuda")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
        analysis = FaceAnalysis(name=MODEL_PACK, root=str(self.root), providers=providers,
                                allowed_modules=["detection", "recognition"])  # fmt: skip
        analysis.prepare(ctx_id=0 if cuda else -1, det_size=DETECTION_SIZE)
        return analysis

    def embed(self, image: np.ndarray) -> FaceEmbedding:
        key = hashlib.sha1(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        from insightface.utils import face_align

        if self._analysis is None:
            log.info("Loading insightface %s from %s", MODEL_PACK, self.root)
            self._analysis = self._load()
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        faces = self._analysis.get(bgr)
        if not faces:
            raise NoFaceFound("Insightface: no face found in the unit's image")
        face = max(faces, key=lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))
        crop = face_align.norm_crop(bgr, landmark=face.kps, image_size=CROP_SIZE)
        result = FaceEmbedding(
            np.asarray(face.normed_embedding, dtype=np.float32), cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        )
        self._last = (key, result)
        return result
