"""The model cache: LRU on the device, locked entries never evicted, evicted ones kept in RAM when asked."""

from __future__ import annotations

import threading

import torch

from webui.core.devices import DevicePolicy
from webui.models.cache import ModelCache

CPU = DevicePolicy(torch.device("cpu"), torch.float32, torch.float32, offload_when_idle=False)


class Fake:
    """A cache entry that records where it was moved and whether its LoRA patches were released."""

    def __init__(self, name: str, size: int = 0) -> None:
        self.name = name
        self.size = size
        self.moves: list[str] = []
        self.released = 0

    def to(self, device, dtype=None, vae_dtype=None) -> None:
        self.moves.append(str(device))

    def release_patches(self) -> None:
        self.released += 1

    def nbytes(self) -> int:
        return self.size


class FakePart:
    """One module of a FakeModel: remembers the device it was last moved to."""

    def __init__(self) -> None:
        self.device = "cpu"

    def to(self, device=None, dtype=None) -> None:
        self.device = str(device)

    def children(self) -> list:
        return []


class FakeModel(Fake):
    """A checkpoint-like entry with parts, as --lowvram moves them one at a time."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.modules = {part: FakePart() for part in ("text_encoder", "unet", "vae")}

    def to(self, device, dtype=None, vae_dtype=None) -> None:
        super().to(device)
        for part in self.modules.values():
            part.to(device)

    def parts(self) -> dict[str, FakePart]:
        return self.modules

    def on_device(self) -> list[str]:
        return [name for name, part in self.modules.items() if part.device == "cuda"]


def loader(made: list[str], sizes: dict[str, int] | None = None):
    def load_for(name: str):
        def load() -> Fake:
            made.append(name)
            return Fake(name, (sizes or {}).get(name, 0))

        return load

    return load_for


def test_least_recently_used_unlocked_entry_is_evicted() -> None:
    made: list[str] = []
    load = loader(made)
    cache = ModelCache(CPU, max_on_device=2)
    for name in ("a", "b"):
        with cache.acquire(name, load(name)):
            pass
    with cache.acquire("a", load("a")):
        pass  # a is now the most recent
    with cache.acquire("c", load("c")):
        pass
    assert cache.keys_on_device() == ["a", "c"]
    assert made == ["a", "b", "c"]  # a was reused, not reloaded


def test_locked_entry_is_never_evicted() -> None:
    made: list[str] = []
    load = loader(made)
    cache = ModelCache(CPU, max_on_device=1)
    with cache.acquire("a", load("a")) as a:
        with cache.acquire("b", load("b")):
            assert "a" in cache.keys_on_device()  # over budget while both are in use
        assert cache.keys_on_device() == ["a"]  # b went, a is still locked
        assert a.name == "a"
    with cache.acquire("b", load("b")):
        pass
    assert cache.keys_on_device() == ["b"]


def test_ram_cache_keeps_evicted_models_and_patches_are_released() -> None:
    made: list[str] = []
    load = loader(made)
    cache = ModelCache(CPU, max_on_device=1, max_in_ram=1)
    with cache.acquire("a", load("a")) as a:
        pass
    with cache.acquire("b", load("b")):
        pass
    assert cache.keys_in_ram() == ["a"] and a.released == 1
    with cache.acquire("a", load("a")):
        pass
    assert made == ["a", "b"]  # a came back from RAM, not from disk


def test_drop_forgets_an_entry() -> None:
    made: list[str] = []
    load = loader(made)
    cache = ModelCache(CPU, max_on_device=2)
    with cache.acquire("a", load("a")):
        pass
    cache.drop("a")
    with cache.acquire("a", load("a")):
        pass
    assert made == ["a", "a"]


def test_concurrent_acquires_of_one_key_load_once() -> None:
    made: list[str] = []
    load = loader(made)
    cache = ModelCache(CPU, max_on_device=2)

    def use() -> None:
        with cache.acquire("a", load("a")):
            pass

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == ["a"]


def test_cache_limits_follow_the_settings(app_factory) -> None:
    """A1111: N checkpoints loaded, only one of them on the device unless "Only keep one model on device" is off."""
    app = app_factory()
    cache = app.models.cache
    app.options.set("sd_checkpoints_limit", 3)
    app.options.set("sd_checkpoint_cache", 1)
    assert (cache.max_on_device, cache.max_in_ram) == (1, 3)
    app.options.set("sd_checkpoints_keep_in_cpu", False)
    assert (cache.max_on_device, cache.max_in_ram) == (3, 1)
    assert cache.vram_budget is None and cache.ram_budget is None  # 0 GiB: automatic / no byte limit
    app.options.set_many({"sd_vram_budget_gb": 1.5, "sd_ram_budget_gb": 4})
    assert cache.vram_budget == 3 << 29 and cache.ram_budget == 4 << 30


def test_byte_budget_on_the_device_evicts_least_recently_used_until_the_new_model_fits() -> None:
    made: list[str] = []
    load = loader(made, {"a": 400, "b": 300, "c": 500, "d": 900})
    cache = ModelCache(CPU, max_on_device=10, vram_budget=1000)
    for name in ("a", "b"):
        with cache.acquire(name, load(name)):
            pass
    with cache.acquire("a", load("a")):
        pass  # a is now the most recent; 700 bytes on the device
    with cache.acquire("c", load("c")):
        pass  # 700 + 500 > 1000: b (least recent) goes, a stays
    assert cache.keys_on_device() == ["a", "c"] and cache.bytes_on_device() == 900
    with cache.acquire("c", load("c")), cache.acquire("d", load("d")):
        # a goes; c is locked, so it stays although c + d is over the budget
        assert cache.keys_on_device() == ["c", "d"]
    # d was released first, while c was still in use and the two were over the budget: d had to go
    assert cache.keys_on_device() == ["c"] and cache.bytes_on_device() == 500


def test_ram_byte_budget_keeps_what_fits_and_drops_the_rest() -> None:
    made: list[str] = []
    load = loader(made, {"a": 600, "b": 300, "c": 300, "d": 10})
    cache = ModelCache(CPU, max_on_device=1, max_in_ram=5, ram_budget=700)
    for name in ("a", "b", "c", "d"):
        with cache.acquire(name, load(name)):
            pass
    # a (600) went to RAM, then b pushed RAM to 900 > 700: a (least recent) dropped; then c: b + c = 600
    assert cache.keys_in_ram() == ["b", "c"] and cache.bytes_in_ram() == 600
    with cache.acquire("a", load("a")):
        pass
    assert made == ["a", "b", "c", "d", "a"]  # a came back from disk, b and c would not have


def test_lowvram_moves_one_part_at_a_time_and_frees_the_device_after_the_job() -> None:
    """--lowvram: the UNet waits on the device when the job starts; each part comes over while it runs."""
    gpu = DevicePolicy(torch.device("cuda"), torch.float16, torch.float16, offload_when_idle=True)
    cache = ModelCache(gpu, lowvram=True)
    model = FakeModel("a")
    with cache.acquire("a", lambda: model) as loaded:
        assert loaded.on_device() == ["unet"]
        for part in ("text_encoder", "unet", "vae"):
            with cache.use_part("a", part):
                assert loaded.on_device() == [part] and cache.part_on_device("a") == part
    assert model.on_device() == [] and cache.part_on_device("a") is None
    assert model.released == 0  # LoRA patches stay applied: the weights only moved
    with cache.acquire("a", lambda: FakeModel("other")) as again:
        assert again is model and again.on_device() == ["unet"]


def test_xformers_flag_without_cuda_keeps_sdpa_and_generates(app_factory) -> None:
    from webui.core.types import Size
    from webui.generation.request import Txt2ImgRequest

    app = app_factory(xformers=True)
    result = app.generation.run_sync(Txt2ImgRequest(prompt="x", steps=2, size=Size(64, 64), save_images=False))
    assert len(result.images) == 1


def test_medvram_parks_models_in_ram_between_jobs() -> None:
    """--medvram/--lowvram: the device is freed after each job; the next job moves the weights back, no reload."""
    made: list[str] = []
    load = loader(made)
    gpu = DevicePolicy(torch.device("cuda"), torch.float16, torch.float16, offload_when_idle=True)
    cache = ModelCache(gpu, max_on_device=1)
    with cache.acquire("a", load("a")) as a:
        assert a.moves == ["cuda"]
    assert a.moves == ["cuda", "cpu"] and a.released == 1
    with cache.acquire("a", load("a")):
        assert a.moves == ["cuda", "cpu", "cuda"]
    assert made == ["a"]


def test_lowvram_generation_runs_text_encoder_unet_and_vae_in_turn(app_factory) -> None:
    """--lowvram on a real (tiny) model: forward hooks bring each part over as the job reaches it."""
    from webui.core.types import Size
    from webui.generation.request import Txt2ImgRequest

    app = app_factory(lowvram=True)
    result = app.generation.run_sync(Txt2ImgRequest(prompt="x", steps=2, size=Size(64, 64), save_images=False))
    assert len(result.images) == 1
    parts = [part for _key, part in app.models.cache.part_moves]
    assert parts == ["unet", "text_encoder", "unet", "vae"]


def test_automatic_vram_budget_follows_free_cuda_memory(monkeypatch) -> None:
    """sd_vram_budget_gb = 0: what the cache holds plus free memory, less a 1.5 GiB reserve. On a 10 GiB card two
    5 GiB models do not fit together (8.5 GiB): the older one leaves the device; 5 + 3 does, 5 + 3 + 3 does not."""
    gib = 1 << 30
    fakes: list[Fake] = []

    def free_memory(device=None) -> tuple[int, int]:
        used = sum(f.size for f in fakes if f.moves and f.moves[-1] == "cuda")
        return 10 * gib - used, 10 * gib

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", free_memory)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 0)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 0)
    gpu = DevicePolicy(torch.device("cuda"), torch.float16, torch.float16, offload_when_idle=False)
    cache = ModelCache(gpu, max_on_device=4, max_in_ram=4)

    def use(name: str, size: int) -> None:
        def load() -> Fake:
            fakes.append(Fake(name, size * gib))
            return fakes[-1]

        with cache.acquire(name, load):
            pass

    use("a", 5)
    use("b", 5)
    assert cache.keys_on_device() == ["b"] and cache.keys_in_ram() == ["a"]
    use("c", 3)
    assert cache.keys_on_device() == ["b", "c"]
    use("d", 3)
    assert cache.keys_on_device() == ["c", "d"]
