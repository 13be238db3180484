"""Read LoRA-family files (kohya, LyCORIS, diffusers/peft) and resolve their keys against a loaded model.

A file is parsed into a :class:`LoraFile`: one :class:`LoraModule` per target layer, with its kind, tensors, alpha
and rank. Which layer a module targets is decided later by :func:`resolve_lora`, against the real modules of the
loaded UNet and text encoders (``named_modules()`` flattened with underscores, the way kohya names them), so any
architecture and any width works without a table of layer names.

Naming conventions handled (facts from kohya sd-scripts, LyCORIS, A1111 and diffusers):

* kohya, diffusers-style: ``lora_unet_down_blocks_0_attentions_0_proj_in``,
  ``lora_te_text_model_encoder_layers_0_self_attn_q_proj`` (``text_model_`` is kept even though transformers 5's
  ``CLIPTextModel`` has no ``text_model`` level; both spellings are indexed).
* kohya, LDM-style UNet names: ``lora_unet_input_blocks_1_1_proj_in`` (SD1/SD2 from A1111-trained files, and every
  SDXL LoRA), translated with the block arithmetic of :func:`webui.models.ldm_format.unet_prefix_map`. Resnet parts
  (``in_layers_2`` → ``conv1``, ``skip_connection`` → ``conv_shortcut``…) are renamed too, and an LDM block that can
  mean two diffusers modules (``output_blocks_2_1`` is an attention or an upsampler) is tried both ways.
* SDXL text encoders: ``lora_te1_`` (CLIP ViT-L, part ``te``) and ``lora_te2_`` (OpenCLIP bigG, part ``te2``).
* diffusers/peft: ``unet.<module path>.lora_A.weight`` / ``lora_B.weight``, ``text_encoder.…``,
  ``text_encoder_2.…`` (no alphas: scale 1, as peft's default ``lora_alpha == r``).

Kinds: ``lora`` (``lora_down``/``lora_up``; ``locon`` when the down projection is a kxk convolution, optional
Tucker ``lora_mid``), ``loha`` (``hada_w1_a``…, optional ``hada_t1``/``hada_t2``), ``lokr`` (``lokr_w1`` or
``lokr_w1_a/b``, ``lokr_w2`` or ``lokr_w2_a/b``, optional ``lokr_t2``) and ``diff`` (a full weight difference,
optional ``diff_b`` for the bias). The delta maths is :meth:`LoraModule.delta`; scaling is ``alpha / rank``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final, Literal

import torch
from torch import Tensor, nn

from webui.core.errors import CorruptModel, UserError
from webui.models.hashing import addnet_hash_safetensors, lora_short_hash, sha256_of_file
from webui.models.ldm_format import unet_prefix_map
from webui.models.safe_load import load_state_dict, safetensors_metadata

log = logging.getLogger(__name__)

LoraKind = Literal["lora", "locon", "loha", "lokr", "diff"]
LoraPart = Literal["te", "te2", "unet"]
PARTS: Final[tuple[LoraPart, ...]] = ("te", "te2", "unet")

# Key prefix → part. Longest first, so that "lora_te2_" wins over "lora_te_"-like prefixes.
_PREFIXES: Final[tuple[tuple[str, LoraPart], ...]] = (
    ("lora_te1_", "te"),
    ("lora_te2_", "te2"),
    ("lora_te_", "te"),
    ("lora_unet_", "unet"),
    ("text_encoder_2.", "te2"),
    ("text_encoder.", "te"),
    ("unet.", "unet"),
)
# Tensor suffix as written in files → our name for it. Longest suffixes first, so ".lora_down.weight" wins.
_SUFFIXES: Final[dict[str, str]] = {
    ".lora_down.weight": "lora_down",
    ".lora_up.weight": "lora_up",
    ".lora_mid.weight": "lora_mid",
    ".lora_A.weight": "lora_down",
    ".lora_B.weight": "lora_up",
    ".lora.down.weight": "lora_down",
    ".lora.up.weight": "lora_up",
    ".hada_w1_a": "hada_w1_a",
    ".hada_w1_b": "hada_w1_b",
    ".hada_w2_a": "hada_w2_a",
    ".hada_w2_b": "hada_w2_b",
    ".hada_t1": "hada_t1",
    ".hada_t2": "hada_t2",
    ".lokr_w1_a": "lokr_w1_a",
    ".lokr_w1_b": "lokr_w1_b",
    ".lokr_w2_a": "lokr_w2_a",
    ".lokr_w2_b": "lokr_w2_b",
    ".lokr_w1": "lokr_w1",
    ".lokr_w2": "lokr_w2",
    ".lokr_t2": "lokr_t2",
    ".diff_b": "diff_b",
    ".diff": "diff",
    ".alpha": "alpha",
    ".dora_scale": "dora_scale",
    ".w_norm": "w_norm",
    ".b_norm": "b_norm",
    ".oft_blocks": "oft_blocks",
    ".oft_diag": "oft_diag",
    ".on_input": "on_input",
}
_SUFFIX_ORDER: Final[tuple[str, ...]] = tuple(sorted(_SUFFIXES, key=len, reverse=True))
_TEXT_MODEL: Final[str] = "text_model_"
# LDM ResBlock sub-modules → diffusers ResnetBlock2D names (flattened, with the trailing "_").
_LDM_RESNET_PARTS: Final[dict[str, str]] = {
    "in_layers_0_": "norm1_",
    "in_layers_2_": "conv1_",
    "out_layers_0_": "norm2_",
    "out_layers_3_": "conv2_",
    "emb_layers_1_": "time_emb_proj_",
    "skip_connection_": "conv_shortcut_",
}
_FAMILY_NAMES: Final[dict[str, str]] = {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL"}
# A LoRA of which fewer than this fraction of modules fit the model is refused as made for another base model.
MIN_FIT_FRACTION: Final[float] = 0.5


class LoraDoesNotFit(UserError):
    """A LoRA whose layers are not those of the loaded model (e.g. an SD1 LoRA on an SDXL checkpoint)."""

    status_code = 422


@dataclass(frozen=True)
class LoraModule:
    """The tensors a file holds for one target layer."""

    key: str  # the file's key without the tensor suffix: "lora_unet_down_blocks_0_attentions_0_proj_in"
    part: LoraPart
    name: str  # the module name without the part prefix, dots replaced by "_": "down_blocks_0_attentions_0_proj_in"
    kind: LoraKind
    tensors: dict[str, Tensor]  # our tensor names (see _SUFFIXES) → tensor, as stored (often float16)
    alpha: float | None
    rank: int | None

    @property
    def scale(self) -> float:
        """``alpha / rank`` (kohya, A1111 and diffusers agree); 1 when either is unknown."""
        if self.alpha is None or not self.rank:
            return 1.0
        return self.alpha / self.rank

    @property
    def targets_bias(self) -> bool:
        return "diff_b" in self.tensors

    def delta(self, device: torch.device | str | None = None) -> Tensor:
        """The weight difference this module adds at multiplier 1, ``scale`` included, in float32.

        Its shape is the natural one of the decomposition ([out, in] or [out, in, kh, kw]); the caller reshapes it
        to the target weight (a linear LoRA on a 1x1 convolution, for example). ``device="meta"`` gives the shape
        without computing anything.
        """
        t = {k: v.to(device=device, dtype=torch.float32) for k, v in self.tensors.items() if k != "diff_b"}
        if self.kind in ("lora", "locon"):
            up, down = t["lora_up"], t["lora_down"]
            if "lora_mid" in t:
                result = _rebuild_tucker(t["lora_mid"], up, down)
            elif down.ndim == 4 and down.shape[2:] != (1, 1):
                result = (up.flatten(1) @ down.flatten(1)).reshape(up.shape[0], down.shape[1], *down.shape[2:])
            else:
                result = up.flatten(1) @ down.flatten(1)
            if down.ndim == 4:
                result = result.reshape(*result.shape, 1, 1)
        elif self.kind == "loha":
            result = _hada_factor(t, "1") * _hada_factor(t, "2")
        elif self.kind == "lokr":
            w1 = t["lokr_w1"] if "lokr_w1" in t else t["lokr_w1_a"] @ t["lokr_w1_b"]
            if "lokr_w2" in t:
                w2 = t["lokr_w2"]
            elif "lokr_t2" in t:
                w2 = _rebuild_tucker(t["lokr_t2"], t["lokr_w2_a"], t["lokr_w2_b"], transposed=True)
            else:
                a, b = t["lokr_w2_a"], t["lokr_w2_b"]
                w2 = (a.flatten(1) @ b.flatten(1)).reshape(a.shape[0], *b.shape[1:])
            if w2.ndim == 4:
                w1 = w1.reshape(*w1.shape, 1, 1)
            result = torch.kron(w1, w2.contiguous())
        else:
            result = t["diff"]
        return result * self.scale if self.scale != 1.0 else result

    def bias_delta(self, device: torch.device | str | None = None) -> Tensor | None:
        """The bias difference of a ``diff`` module (``diff_b``), in float32; None for the other kinds."""
        bias = self.tensors.get("diff_b")
        return None if bias is None else bias.to(device=device, dtype=torch.float32)


def _rebuild_tucker(core: Tensor, up: Tensor, down: Tensor, *, transposed: bool = False) -> Tensor:
    """A Tucker-decomposed convolution: ``delta[o, i, k, l] = Σ core[a, b, k, l] · up[o, a] · down[b, i]``.

    kohya/LyCORIS LoCon stores ``up`` as [out, r] and ``down`` as [r, in]; LoHa/LoKr store both factors as
    ``[r, out]`` / ``[r, in]`` (``transposed=True``), as A1111's ``make_weight_cp`` reads them.
    """
    up2, down2 = up.flatten(1), down.flatten(1)
    if transposed:
        return torch.einsum("abkl,ao,bi->oikl", core, up2, down2)
    return torch.einsum("abkl,oa,bi->oikl", core, up2, down2)


def _hada_factor(t: dict[str, Tensor], n: str) -> Tensor:
    """One Hadamard factor of LoHa: ``w{n}_a @ w{n}_b``, or its Tucker form with ``hada_t{n}``."""
    a, b = t[f"hada_w{n}_a"], t[f"hada_w{n}_b"]
    core = t.get(f"hada_t{n}")
    if core is not None:
        return _rebuild_tucker(core, a, b, transposed=True)
    return (a.flatten(1) @ b.flatten(1)).reshape(a.shape[0], *b.shape[1:])


@dataclass
class LoraFile:
    """A parsed LoRA file. ``modules`` is keyed by the file's module key; nothing is resolved against a model yet."""

    path: Path
    modules: dict[str, LoraModule]
    metadata: dict[str, str] = field(default_factory=dict)
    unparsed: list[str] = field(default_factory=list)  # tensor keys we could not attribute to a module
    identity: str = ""  # path + mtime + size: a LoRA file unchanged on disk keeps its patches between jobs

    @property
    def name(self) -> str:
        """A1111's network name: the file name without extension (what ``<lora:NAME:…>`` refers to)."""
        return self.path.stem

    @cached_property
    def sha256(self) -> str:
        """A1111's LoRA hash: kohya's addnet hash (tensor bytes only) for safetensors, else the file's sha256."""
        if self.path.suffix.lower() == ".safetensors":
            return addnet_hash_safetensors(self.path)
        return sha256_of_file(self.path)

    @property
    def short_hash(self) -> str:
        """The 12 hex digits A1111 writes as ``Lora hashes: "name: 1234567890ab"`` (reads the file once)."""
        return lora_short_hash(self.sha256)

    def parts(self) -> set[LoraPart]:
        return {m.part for m in self.modules.values()}

    def base_guess(self) -> str | None:
        """'sd1' | 'sd2' | 'sdxl' from kohya's ``ss_base_model_version`` or the key names, None when unsure."""
        version = self.metadata.get("ss_base_model_version", "").lower()
        if version.startswith("sdxl"):
            return "sdxl"
        if version.startswith("sd_v2") or self.metadata.get("ss_v2", "").lower() == "true":
            return "sd2"
        if version.startswith("sd_v1"):
            return "sd1"
        if "te2" in self.parts() or any(k.startswith("lora_te1_") for k in self.modules):
            return "sdxl"
        return None


def lora_metadata(path: Path) -> dict[str, str]:
    """The ``__metadata__`` of a .safetensors LoRA (kohya's ``ss_*`` fields: ss_network_dim, ss_sd_model_name…).

    Other formats carry none: ``{}``.
    """
    if path.suffix.lower() != ".safetensors":
        return {}
    return safetensors_metadata(path)


def _split_key(key: str) -> tuple[str, str] | None:
    """``"lora_unet_x.lora_down.weight"`` → ``("lora_unet_x", "lora_down")``; None for an unknown suffix."""
    for suffix in _SUFFIX_ORDER:
        if key.endswith(suffix) and len(key) > len(suffix):
            return key[: -len(suffix)], _SUFFIXES[suffix]
    return None


def _part_of(module_key: str) -> tuple[LoraPart, str] | None:
    """The part a module key belongs to and its name without the prefix, dots flattened to underscores."""
    for prefix, part in _PREFIXES:
        if module_key.startswith(prefix):
            return part, module_key[len(prefix) :].replace(".", "_")
    return None


def _kind_of(tensors: Mapping[str, Tensor]) -> LoraKind | None:
    if "lora_up" in tensors and "lora_down" in tensors:
        down = tensors["lora_down"]
        return "locon" if down.ndim == 4 and tuple(down.shape[2:]) != (1, 1) else "lora"
    if all(f"hada_w{n}_{s}" in tensors for n in "12" for s in "ab"):
        return "loha"
    has_w1 = "lokr_w1" in tensors or ("lokr_w1_a" in tensors and "lokr_w1_b" in tensors)
    has_w2 = "lokr_w2" in tensors or ("lokr_w2_a" in tensors and "lokr_w2_b" in tensors)
    if has_w1 and has_w2:
        return "lokr"
    if "diff" in tensors:
        return "diff"
    return None


def _rank_of(kind: LoraKind, tensors: Mapping[str, Tensor]) -> int | None:
    """The rank ``alpha`` is divided by (A1111's ``dim``); None for a LoKr without low-rank factors and ``diff``."""
    if kind in ("lora", "locon"):
        return int(tensors["lora_down"].shape[0])
    if kind == "loha":
        return int(tensors["hada_w1_b"].shape[0])
    if kind == "lokr":
        if "lokr_w1_b" in tensors:
            return int(tensors["lokr_w1_b"].shape[0])
        if "lokr_w2_b" in tensors:
            return int(tensors["lokr_w2_b"].shape[0])
    return None


def parse_lora_state(state: Mapping[str, Any], path: Path, metadata: Mapping[str, str] | None = None) -> LoraFile:
    """Group a LoRA state dict's tensors per module and type them. Raises CorruptModel for a file with no LoRA."""
    grouped: dict[str, dict[str, Tensor]] = {}
    unparsed: list[str] = []
    for key, value in state.items():
        split = _split_key(key)
        if split is None or not isinstance(value, Tensor) or _part_of(split[0]) is None:
            unparsed.append(key)
            continue
        grouped.setdefault(split[0], {})[split[1]] = value
    modules: dict[str, LoraModule] = {}
    for module_key, tensors in grouped.items():
        kind = _kind_of(tensors)
        unsupported = sorted(set(tensors) & {"dora_scale", "w_norm", "b_norm", "oft_blocks", "oft_diag", "on_input"})
        if kind is None or unsupported:
            unparsed.extend(f"{module_key}.{name}" for name in sorted(tensors))
            continue
        alpha_tensor = tensors.pop("alpha", None)
        part_name = _part_of(module_key)
        assert part_name is not None  # filtered above
        alpha = float(alpha_tensor.float().item()) if alpha_tensor is not None else None
        modules[module_key] = LoraModule(
            key=module_key,
            part=part_name[0],
            name=part_name[1],
            kind=kind,
            tensors=tensors,
            alpha=alpha,
            rank=_rank_of(kind, tensors),
        )
    if not modules:
        raise CorruptModel(f"{path.name}: not a LoRA file (no LoRA, LoCon, LoHa or LoKr tensors found)")
    if unparsed:
        log.warning(
            "LoRA %s: %d keys of unsupported kinds are ignored, e.g. %s", path.name, len(unparsed), unparsed[:3]
        )
    return LoraFile(path=path, modules=modules, metadata=dict(metadata or {}), unparsed=unparsed)


def load_lora(path: Path, *, allow_unsafe_pickle: bool = False) -> LoraFile:
    """Read a LoRA/LoCon/LoHa/LoKr file (.safetensors, or a .pt/.ckpt through the safe unpickler) on the CPU.

    Tensors keep their stored dtype; they are cast to float32 on the target device when a delta is computed.
    """
    path = Path(path)
    state = load_state_dict(path, allow_unsafe=allow_unsafe_pickle)
    lora = parse_lora_state(state, path, lora_metadata(path))
    stat = os.stat(path)
    lora.identity = f"{path.resolve()}:{stat.st_mtime_ns}:{stat.st_size}"
    kinds = sorted({m.kind for m in lora.modules.values()})
    log.debug("Loaded LoRA %s: %d modules (%s)", path.name, len(lora.modules), ", ".join(kinds))
    return lora


# --- resolution against a loaded model -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LoraTarget:
    """One LoRA module matched to a layer of the model."""

    module: LoraModule
    component: LoraPart  # which model part: "te", "te2" or "unet"
    path: str  # the layer's dotted name inside its component: "down_blocks.0.attentions.0.proj_in"
    layer: nn.Module  # the nn.Linear / nn.Conv2d itself


@dataclass
class LoraResolution:
    """Where a LoraFile's modules land in one model; ``unmatched`` holds ``(module key, reason)`` pairs."""

    lora: LoraFile
    targets: list[LoraTarget]
    unmatched: list[tuple[str, str]]

    def summary(self) -> str:
        first = ", ".join(f"{k} ({why})" for k, why in self.unmatched[:3])
        return f"{len(self.targets)} of {len(self.lora.modules)} modules matched; unmatched: {first or 'none'}"


class ModuleIndex:
    """The patchable layers (Linear, Conv2d) of a model's parts, by underscore-flattened name.

    Text encoder layers are indexed with and without a leading ``text_model_`` (kohya keeps it; transformers 5's
    ``CLIPTextModel`` has no such level but ``CLIPTextModelWithProjection`` does).
    """

    def __init__(self, components: Mapping[str, nn.Module]) -> None:
        self.components = dict(components)
        self._flat: dict[str, dict[str, tuple[str, nn.Module]]] = {}
        for part, root in self.components.items():
            table: dict[str, tuple[str, nn.Module]] = {}
            ambiguous: set[str] = set()
            for path, layer in root.named_modules():
                if not isinstance(layer, nn.Linear | nn.Conv2d):
                    continue
                flat = path.replace(".", "_")
                names = [flat]
                if part != "unet":
                    names.append(
                        flat.removeprefix(_TEXT_MODEL) if flat.startswith(_TEXT_MODEL) else _TEXT_MODEL + flat
                    )
                for name in names:
                    if name in table and table[name][0] != path:
                        ambiguous.add(name)
                    table.setdefault(name, (path, layer))
            for name in ambiguous:
                log.warning("layer name %s is ambiguous in %s; LoRA keys for it are not applied", name, part)
                table.pop(name)
            self._flat[part] = table
        self._ldm_table = _ldm_table(getattr(self.components.get("unet"), "config", None))

    def lookup(self, part: str, name: str) -> tuple[str, nn.Module] | None:
        return self._flat.get(part, {}).get(name)

    def lookup_ldm_unet(self, name: str) -> tuple[str, nn.Module] | None:
        """A UNet layer by its flattened LDM name (``input_blocks_1_1_proj_in``), for this UNet's block layout."""
        flat = name + "_"
        for ldm, diffusers, is_resnet in self._ldm_table:
            if flat.startswith(ldm):
                rest = flat[len(ldm) :]
                if is_resnet:
                    rest = next(
                        (new + rest[len(old) :] for old, new in _LDM_RESNET_PARTS.items() if rest.startswith(old)),
                        rest,
                    )
                found = self.lookup("unet", (diffusers + rest)[:-1])
                if found is not None:
                    return found
        return None


def _ldm_table(config: Any) -> list[tuple[str, str, bool]]:
    """(flattened LDM prefix, flattened diffusers prefix, is_resnet), longest LDM prefix first; [] without config."""
    if config is None:
        return []
    try:
        pairs = unet_prefix_map(config)
    except (KeyError, ValueError, AttributeError, TypeError) as exc:
        log.debug("no LDM names for this UNet: %s", exc)
        return []
    table = [(ldm.replace(".", "_"), diffusers.replace(".", "_"), is_resnet) for diffusers, ldm, is_resnet in pairs]
    return sorted(table, key=lambda entry: len(entry[0]), reverse=True)


def components_of(model: Any) -> dict[str, nn.Module]:
    """A LoadedCheckpoint's patchable parts by LoRA part: unet, te (first text encoder), te2 (SDXL's second)."""
    parts: dict[str, nn.Module] = {"unet": model.unet}
    for part, encoder in zip(("te", "te2"), model.text_encoders, strict=False):
        parts[part] = encoder
    return parts


def _fits(module: LoraModule, layer: nn.Module) -> str | None:
    """None when the module's delta fits the layer's weight (shape checked on the meta device), else a reason."""
    weight: Tensor = layer.weight
    try:
        shape = module.delta(device="meta").shape
    except (RuntimeError, KeyError, ValueError, IndexError) as exc:
        return f"malformed tensors ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
    if shape[0] != weight.shape[0] or math.prod(shape) != weight.numel():
        return f"shape {tuple(shape)} does not fit {type(layer).__name__} weight {tuple(weight.shape)}"
    bias = module.tensors.get("diff_b")
    if bias is not None and (layer.bias is None or bias.numel() != layer.bias.numel()):
        return "bias difference does not fit"
    return None


def resolve_lora(
    lora: LoraFile, model: Any, *, index: ModuleIndex | None = None, family: str | None = None
) -> LoraResolution:
    """Match every module of ``lora`` to a layer of ``model`` (a LoadedCheckpoint, or use ``index``).

    Tries the diffusers-style flattened name, then the LDM name translated for this UNet's block layout. Modules
    that match nothing, or whose shapes differ from the layer's, are reported in ``unmatched``. Raises
    LoraDoesNotFit when nothing matches or less than half of the modules do (a LoRA for another base model).
    """
    if index is None:
        index = ModuleIndex(components_of(model))
    if family is None and model is not None:
        family = getattr(getattr(model, "identity", None), "family", None)
    targets: list[LoraTarget] = []
    unmatched: list[tuple[str, str]] = []
    for module in lora.modules.values():
        if module.part not in index.components:
            unmatched.append((module.key, f"the model has no {module.part} part"))
            continue
        found = index.lookup(module.part, module.name)
        if found is None and module.part == "unet":
            found = index.lookup_ldm_unet(module.name)
        if found is None:
            unmatched.append((module.key, "no such layer"))
            continue
        problem = _fits(module, found[1])
        if problem is not None:
            unmatched.append((module.key, problem))
            continue
        targets.append(LoraTarget(module=module, component=module.part, path=found[0], layer=found[1]))
    resolution = LoraResolution(lora=lora, targets=targets, unmatched=unmatched)
    if not targets or len(targets) < MIN_FIT_FRACTION * len(lora.modules):
        base = lora.base_guess()
        if base is not None and base != family and family in _FAMILY_NAMES:
            hint = f"{_FAMILY_NAMES[base]} LoRA on an {_FAMILY_NAMES[str(family)]} model?"
        elif base is None and family == "sdxl":
            hint = "SD1/SD2 LoRA on an SDXL model?"
        else:
            hint = "made for another base model?"
        raise LoraDoesNotFit(f"LoRA {lora.name} does not fit this model ({hint}); {resolution.summary()}")
    if unmatched:
        log.warning("LoRA %s: %s", lora.name, resolution.summary())
    return resolution
