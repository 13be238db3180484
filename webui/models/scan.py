"""Walk A1111's model folders and list what is there (no loading, no hashing)."""

from __future__ import annotations

from pathlib import Path

from webui.models.records import ModelFormat, ModelKind, ModelRecord

CHECKPOINT_SUFFIXES = {".safetensors": ModelFormat.SAFETENSORS, ".ckpt": ModelFormat.PICKLE}
VAE_SUFFIXES = {".safetensors": ModelFormat.SAFETENSORS, ".pt": ModelFormat.PICKLE, ".ckpt": ModelFormat.PICKLE}
LORA_SUFFIXES = {".safetensors": ModelFormat.SAFETENSORS, ".pt": ModelFormat.PICKLE, ".ckpt": ModelFormat.PICKLE}
EMBEDDING_SUFFIXES = {".safetensors": ModelFormat.SAFETENSORS, ".pt": ModelFormat.PICKLE, ".bin": ModelFormat.PICKLE}
# As the sd-webui-controlnet extension lists them (IP-Adapters come as .bin).
CONTROLNET_SUFFIXES = {
    ".safetensors": ModelFormat.SAFETENSORS,
    ".pth": ModelFormat.PICKLE,
    ".pt": ModelFormat.PICKLE,
    ".ckpt": ModelFormat.PICKLE,
    ".bin": ModelFormat.PICKLE,
}
HYPERNETWORK_SUFFIXES = {".pt": ModelFormat.PICKLE}


def _is_diffusers_pipeline(folder: Path) -> bool:
    return (folder / "model_index.json").is_file()


def _is_diffusers_model(folder: Path) -> bool:
    return (folder / "config.json").is_file()


def scan_folder(
    root: Path, kind: ModelKind, suffixes: dict[str, ModelFormat], *, diffusers_check=None
) -> list[ModelRecord]:
    """Files with a known suffix under `root` (recursively, as A1111), and diffusers folders if asked.

    Hidden files and folders are skipped; results are sorted by relative path, case-insensitively.
    """
    if not root.is_dir():
        return []
    found: list[ModelRecord] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        for entry in folder.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if diffusers_check is not None and diffusers_check(entry):
                    found.append(ModelRecord(kind, entry, root, ModelFormat.DIFFUSERS))
                else:
                    stack.append(entry)
            elif entry.suffix.lower() in suffixes and entry.stat().st_size > 0:
                found.append(ModelRecord(kind, entry, root, suffixes[entry.suffix.lower()]))
    return sorted(found, key=lambda r: r.relative.lower())


def scan_checkpoints(root: Path) -> list[ModelRecord]:
    """Checkpoints; `NAME.vae.safetensors` files next to them are VAEs, not checkpoints (as in A1111)."""
    found = scan_folder(root, ModelKind.CHECKPOINT, CHECKPOINT_SUFFIXES, diffusers_check=_is_diffusers_pipeline)
    return [r for r in found if [s.lower() for s in r.path.suffixes[-2:-1]] != [".vae"]]


def scan_vaes(root: Path) -> list[ModelRecord]:
    return scan_folder(root, ModelKind.VAE, VAE_SUFFIXES, diffusers_check=_is_diffusers_model)


def scan_loras(root: Path, *more_roots: Path) -> list[ModelRecord]:
    """LoRA files in `root`, then those in `more_roots` (A1111's models/LyCORIS) whose names are not taken yet."""
    found = scan_folder(root, ModelKind.LORA, LORA_SUFFIXES)
    for extra in more_roots:
        if extra.resolve() == root.resolve():
            continue
        names = {r.name for r in found}
        found.extend(r for r in scan_folder(extra, ModelKind.LORA, LORA_SUFFIXES) if r.name not in names)
    return found


def scan_hypernetworks(root: Path) -> list[ModelRecord]:
    """A1111 lists `**/*.pt` under models/hypernetworks, except a file named "None"."""
    return [r for r in scan_folder(root, ModelKind.HYPERNETWORK, HYPERNETWORK_SUFFIXES) if r.path.stem != "None"]


def scan_embeddings(roots: list[Path]) -> list[ModelRecord]:
    records: list[ModelRecord] = []
    for root in roots:
        records.extend(scan_folder(root, ModelKind.EMBEDDING, EMBEDDING_SUFFIXES))
    return records


def scan_controlnets(root: Path) -> list[ModelRecord]:
    return scan_folder(root, ModelKind.CONTROLNET, CONTROLNET_SUFFIXES, diffusers_check=_is_diffusers_model)
