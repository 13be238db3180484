"""Standalone VAEs: load A1111 VAE files and diffusers VAE folders, and resolve the ``sd_vae`` option to a file.

The rules of :func:`resolve_vae` match A1111 1.10's ``modules/sd_vae.resolve_vae`` without ``--vae-path`` and without
per-checkpoint user metadata (we have neither):

* the choices are ``"None"``, ``"Automatic"`` (also ``"auto"``, from old configs) or a VAE's name;
* ``"None"`` → the checkpoint's own VAE;
* ``"Automatic"`` → the first VAE, in natural sort order of file names, whose **file name starts with the checkpoint's
  file name without its extension** (A1111's ``find_vae_near_checkpoint``; despite its name it searches the whole VAE
  list, so ``model.vae.pt``, ``model.safetensors`` and ``model-v2.vae.pt`` in ``models/VAE`` all match ``model``);
  otherwise the checkpoint's own VAE;
* a name → the VAE with that file name (A1111's key, ``name.safetensors``); we also accept the path relative to its
  folder and either without the extension. An unknown name gives the checkpoint's own VAE, with a warning.
* with ``overrides_per_model_preferences=False`` (A1111's option "Selected VAE overrides per-model preferences", on by
  default) a VAE matching the checkpoint as for "Automatic" wins over a named choice.

A1111 lists as VAEs every ``.pt``/``.ckpt``/``.safetensors`` under ``models/VAE`` (and ``--vae-dir``) plus the
``*.vae.pt``/``*.vae.ckpt``/``*.vae.safetensors`` files in the checkpoint folders (see :func:`scan_checkpoint_vaes`);
pass them all to :func:`resolve_vae`, checkpoint-folder ones first (for equal file names the later one wins, as in
A1111's ``vae_dict``).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import torch

from webui.core.errors import CorruptModel
from webui.models.identify import CheckpointIdentity
from webui.models.records import ModelFormat, ModelKind, ModelRecord
from webui.models.safe_load import load_state_dict
from webui.models.scan import VAE_SUFFIXES, scan_folder

log = logging.getLogger(__name__)

AUTOMATIC: Final[str] = "Automatic"
NONE: Final[str] = "None"
_AUTOMATIC_ALIASES: Final[frozenset[str]] = frozenset({"Automatic", "auto"})
_IGNORED_KEYS: Final[frozenset[str]] = frozenset({"model_ema.decay", "model_ema.num_updates"})
_LDM_VAE_PREFIX: Final[str] = "first_stage_model."
_FIT_KEYS: Final[tuple[str, ...]] = ("latent_channels", "block_out_channels", "layers_per_block", "in_channels")


# --- loading ---------------------------------------------------------------------------------------------------------
def vae_state_dict(path: Path, *, allow_unsafe_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The VAE tensors of a standalone VAE file, without the ``first_stage_model.`` prefix.

    Matches A1111 1.10's ``load_vae_dict``: ``loss*`` keys and ``model_ema.decay``/``num_updates`` are dropped. A
    full checkpoint works too: only its ``first_stage_model.*`` keys are kept.
    """
    state = load_state_dict(Path(path), allow_unsafe=allow_unsafe_pickle)
    tensors = {
        k: v
        for k, v in state.items()
        if isinstance(v, torch.Tensor) and not k.startswith("loss") and k not in _IGNORED_KEYS
    }
    if any(k.startswith(_LDM_VAE_PREFIX) for k in tensors):
        tensors = {k.removeprefix(_LDM_VAE_PREFIX): v for k, v in tensors.items() if k.startswith(_LDM_VAE_PREFIX)}
    if not tensors:
        raise CorruptModel(f"{Path(path).name}: no VAE weights in the file")
    return tensors


def _vae_config(config_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(config_dir) / "vae" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptModel(f"no readable VAE config in {config_dir} ({exc})") from exc


def _expected_keys(config: dict[str, Any]) -> set[str]:
    from diffusers import AutoencoderKL

    with torch.device("meta"):
        return set(AutoencoderKL.from_config(config).state_dict())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_vae(
    path: Path, config_dir: Path, *, dtype: torch.dtype = torch.float32, allow_unsafe_pickle: bool = False
) -> Any:
    """Load a VAE on the CPU as a diffusers ``AutoencoderKL`` (in eval mode, no grad), offline.

    * a file (``.safetensors``/``.pt``/``.ckpt``, LDM keys with or without ``first_stage_model.``, or diffusers keys):
      read through our safe loader and built with ``from_single_file`` and the checkpoint's shipped config folder
      ``config_dir`` (so scaling factor and ``force_upcast`` are the checkpoint family's);
    * a diffusers folder (``config.json`` + weights): ``from_pretrained``, with its own config.

    Raises CorruptModel with a reason for an unsafe/unreadable file or one whose weights do not fit the config.
    """
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    path = Path(path)
    if path.is_dir():
        try:
            vae = AutoencoderKL.from_pretrained(str(path), local_files_only=True, torch_dtype=dtype)
        except Exception as exc:  # diffusers raises many types for a bad folder
            raise CorruptModel(f"{path.name}: cannot load diffusers VAE folder ({_first_line(exc)})") from exc
        return vae.eval().requires_grad_(False)

    state = vae_state_dict(path, allow_unsafe_pickle=allow_unsafe_pickle)
    config = _vae_config(config_dir)
    expected = _expected_keys(config)
    if not expected.issubset(state):
        try:
            state = convert_ldm_vae_checkpoint(state, config)
        except Exception as exc:
            raise CorruptModel(f"{path.name}: not a VAE in A1111 layout ({_first_line(exc)})") from exc
        missing = sorted(expected - set(state))
        if missing:
            raise CorruptModel(
                f"{path.name}: VAE does not fit the {Path(config_dir).name} model or is incomplete: "
                f"{len(missing)} of {len(expected)} weights missing (e.g. {missing[0]})"
            )
    try:
        vae = AutoencoderKL.from_single_file(
            {k: state[k] for k in expected},
            config=str(config_dir),
            subfolder="vae",
            local_files_only=True,
            dtype=dtype,
        )
    except Exception as exc:  # shape mismatches come as ValueError, others vary
        raise CorruptModel(
            f"{path.name}: VAE does not fit the {Path(config_dir).name} model ({_first_line(exc)})"
        ) from exc
    log.info("Loaded VAE %s", path.name)
    return vae.eval().requires_grad_(False)


def vae_misfit(vae: Any, identity: CheckpointIdentity) -> str | None:
    """Why a loaded VAE cannot decode the latents of this checkpoint (None: it can).

    Compares latent channels and the block layout with the checkpoint's VAE config. SD1, SD2 and SDXL VAEs share one
    architecture and so all "fit" each other (A1111 does not check at all); a mismatched family gives washed-out
    or noisy colours, not an error.
    """
    want = _vae_config(identity.config_dir)
    have = dict(vae.config)
    for key in _FIT_KEYS:
        if key in want and list(_as_list(have.get(key))) != list(_as_list(want[key])):
            return f"VAE has {key}={have.get(key)}, the {identity.family} model needs {want[key]}"
    return None


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def vae_fits(vae: Any, identity: CheckpointIdentity) -> bool:
    """True when the VAE's latent channels and block layout match the checkpoint's (see :func:`vae_misfit`)."""
    return vae_misfit(vae, identity) is None


# --- choosing --------------------------------------------------------------------------------------------------------
def natural_sort_key(text: str) -> list[int | str]:
    """A1111's ``shared.natural_sort_key``: digits compare as numbers, the rest case-insensitively."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def vae_choice_name(record: ModelRecord) -> str:
    """The name A1111 gives a VAE in the ``sd_vae`` option, ``/sdapi/v1/sd-vae`` and the infotext: the file name."""
    return record.path.name


def vae_options(vaes: list[ModelRecord]) -> list[str]:
    """The ``sd_vae`` dropdown: ``Automatic``, ``None``, then VAE file names in natural order (A1111 1.10)."""
    return [AUTOMATIC, NONE, *sorted(_vae_dict(vaes), key=natural_sort_key)]


def _vae_dict(vaes: list[ModelRecord]) -> dict[str, ModelRecord]:
    """A1111's ``vae_dict``: file name → record, later entries winning, sorted naturally by name."""
    table: dict[str, ModelRecord] = {}
    for record in vaes:
        table[vae_choice_name(record)] = record
    return dict(sorted(table.items(), key=lambda kv: natural_sort_key(kv[0])))


def scan_checkpoint_vaes(root: Path) -> list[ModelRecord]:
    """``*.vae.pt``/``*.vae.ckpt``/``*.vae.safetensors`` files in a checkpoint folder, as VAE records (A1111 1.10)."""
    return [
        r
        for r in scan_folder(Path(root), ModelKind.VAE, VAE_SUFFIXES)
        if r.path.name.lower().endswith((".vae.pt", ".vae.ckpt", ".vae.safetensors"))
    ]


@dataclass(frozen=True)
class VaeResolution:
    """Which VAE to use (None: the checkpoint's own) and why, for the log."""

    record: ModelRecord | None
    source: str


def find_vae_near_checkpoint(checkpoint: ModelRecord, vaes: list[ModelRecord]) -> ModelRecord | None:
    """A1111 1.10: the first VAE (natural order of file names) whose file name starts with the checkpoint's stem."""
    name = checkpoint.path.name
    stem = name if checkpoint.format is ModelFormat.DIFFUSERS else name.rsplit(".", 1)[0]
    for name, record in _vae_dict(vaes).items():
        if name.startswith(stem):
            return record
    return None


def _find_by_name(choice: str, vaes: list[ModelRecord]) -> ModelRecord | None:
    table = _vae_dict(vaes)
    if choice in table:  # A1111's own key
        return table[choice]
    for record in table.values():  # our additions: relative path, with or without extension
        if choice in (record.relative, record.name, record.path.name.rsplit(".", 1)[0]):
            return record
    return None


def resolve_vae(
    choice: str, checkpoint: ModelRecord, vaes: list[ModelRecord], *, overrides_per_model_preferences: bool = True
) -> VaeResolution:
    """Resolve the ``sd_vae`` option for a checkpoint (rules in the module docstring)."""
    automatic = choice in _AUTOMATIC_ALIASES
    if choice == NONE:
        return VaeResolution(None, "None selected: the checkpoint's own VAE")
    if automatic or not overrides_per_model_preferences:
        near = find_vae_near_checkpoint(checkpoint, vaes)
        if near is not None:
            return VaeResolution(near, "found near the checkpoint")
        if automatic:
            return VaeResolution(None, "Automatic: no VAE matches the checkpoint, using its own")
    found = _find_by_name(choice, vaes)
    if found is not None:
        return VaeResolution(found, "specified in settings")
    log.warning("Couldn't find VAE named %s; using the checkpoint's own VAE instead", choice)
    return VaeResolution(None, f"VAE {choice!r} not found: the checkpoint's own VAE")


def resolve_vae_choice(
    choice: str, checkpoint: ModelRecord, vaes: list[ModelRecord], *, overrides_per_model_preferences: bool = True
) -> ModelRecord | None:
    """The VAE record for the ``sd_vae`` choice, or None for the checkpoint's own VAE (see :func:`resolve_vae`)."""
    return resolve_vae(
        choice, checkpoint, vaes, overrides_per_model_preferences=overrides_per_model_preferences
    ).record
