"""models/LyCORIS joins the LoRA list; models/hypernetworks is listed (with hashes) in A1111's API shape."""

from __future__ import annotations

import hashlib
import shutil

import torch
from fastapi import FastAPI
from fastapi.testclient import TestClient

from webui.api.router import install_api


def test_lycoris_folder_files_are_loras_and_lora_folder_wins_a_name_clash(app_factory, tiny_models) -> None:
    app = app_factory(api=True)
    lycoris = app.paths.models / "LyCORIS" / "styles"
    lycoris.mkdir(parents=True)
    shutil.copy(tiny_models.lora, lycoris / "lyco-style.safetensors")
    shutil.copy(tiny_models.lora_ldm, app.paths.models / "LyCORIS" / "tiny-lora.safetensors")  # clashes
    server = FastAPI()
    install_api(server, app)
    client = TestClient(server)
    items = {item["name"]: item for item in client.get("/sdapi/v1/loras").json()}
    assert set(items) == {"tiny-lora", "tiny-lora-ldm", "lyco-style"}
    assert items["lyco-style"]["path"] == str(lycoris / "lyco-style.safetensors")
    assert items["tiny-lora"]["path"] == str(app.paths.lora / "tiny-lora.safetensors")
    found = app.models.find_lora("lyco-style")
    assert found is not None and found.path == lycoris / "lyco-style.safetensors"


def test_hypernetworks_are_listed_as_a1111_with_their_hashes(app_factory) -> None:
    app = app_factory(api=True)
    folder = app.paths.models / "hypernetworks"
    (folder / "sub").mkdir(parents=True)
    torch.save({"sizes": [768], 768: []}, folder / "sub" / "anime.pt")
    torch.save({}, folder / "None.pt")  # A1111 never lists a hypernetwork called "None"
    (folder / "readme.txt").write_text("not a model")
    server = FastAPI()
    install_api(server, app)
    client = TestClient(server)
    assert client.get("/sdapi/v1/hypernetworks").json() == [
        {"name": "anime", "path": str(folder / "sub" / "anime.pt")}
    ]
    [entry] = app.model_service.hypernetworks()
    assert entry["sha256"] == hashlib.sha256((folder / "sub" / "anime.pt").read_bytes()).hexdigest()
