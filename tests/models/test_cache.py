"""The model cache: LRU on the device, locked entries never evicted, evicted ones kept in RAM when asked."""

from __future__ import annotations

import threading

import torch

from webui.core.devices import DevicePolicy
from webui.models.cache import ModelCache

CPU = DevicePolicy(torch.device("cpu"), torch.float32, torch.float32, offload_when_idle=False)


class Fake:
    """A cache entry that records where it was moved and whether its LoRA patches were released."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.moves: list[str] = []
        self.released = 0

    def to(self, device, dtype=None, vae_dtype=None) -> None:
        self.moves.append(str(device))

    def release_patches(self) -> None:
        self.released += 1


def loader(made: list[str]):
    def load_for(name: str):
        def load() -> Fake:
            made.append(name)
            return Fake(name)

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
    app = app_factory()
    app.options.set("sd_checkpoints_limit", 2)
    app.options.set("sd_checkpoint_cache", 1)
    assert app.models.cache.max_on_device == 2 and app.models.cache.max_in_ram == 1


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
