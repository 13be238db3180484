"""Composition root: build Settings → options → model manager → job runner → services; serve UI and API."""

from __future__ import annotations

import logging
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from webui.config.options import OptionsStore
from webui.config.paths import Paths
from webui.config.settings import Settings, build_parser, settings_from_args
from webui.core.devices import DevicePolicy, choose_policy
from webui.extensions.manager import ExtensionsManager
from webui.jobs.worker import JobRunner
from webui.models.cache import CACHE_OPTIONS, ModelCache, configure_cache
from webui.models.hashing import HashCache
from webui.models.manager import ModelManager
from webui.services.extra_networks import ExtraNetworksService
from webui.services.extras import ExtrasService
from webui.services.generation import GenerationService
from webui.services.models import ModelService
from webui.services.prompts import PromptTools

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class App:
    """Everything with a lifetime, built once and passed down. Use as a context manager in tests."""

    settings: Settings
    paths: Paths
    options: OptionsStore
    policy: DevicePolicy
    models: ModelManager
    jobs: JobRunner
    generation: GenerationService
    model_service: ModelService
    extras: ExtrasService
    prompts: PromptTools
    extra_networks: ExtraNetworksService = field(init=False)  # built from the others (cards under the prompt)
    extensions: ExtensionsManager | None = None  # None: built without extensions

    def __post_init__(self) -> None:
        self.extra_networks = ExtraNetworksService(self.models, self.model_service, self.options)

    def start(self) -> App:
        self.jobs.start()
        return self

    def close(self) -> None:
        self.jobs.close()
        if self.extensions is not None:
            self.extensions.unload()  # A1111's on_script_unloaded

    def __enter__(self) -> App:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_app(settings: Settings, policy: DevicePolicy | None = None) -> App:
    """Build (but do not start) the App. Creates the model and output folders if missing."""
    paths = Paths(settings.data_dir, settings.ckpt_dir, settings.vae_dir, settings.lora_dir, settings.embeddings_dir)
    paths.ensure()
    if settings.demo_model:
        from webui.models.demo_set import build_demo_set

        build_demo_set(paths.models)
    options = OptionsStore(paths.config_file)
    policy = policy or choose_policy(
        use_cpu=settings.use_cpu,
        no_half=settings.no_half,
        no_half_vae=settings.no_half_vae,
        precision=settings.precision,
        medvram=settings.medvram,
        lowvram=settings.lowvram,
    )
    cache = ModelCache(policy, lowvram=settings.lowvram)
    configure_cache(cache, {key: options.get(key) for key in CACHE_OPTIONS})
    models = ModelManager(
        paths,
        cache,
        HashCache(paths.hash_cache),
        allow_unsafe_pickle=settings.disable_safe_unpickle,
        hashing=not settings.no_hashing,
        xformers=settings.xformers,
    )
    if settings.ckpt:
        options.set("sd_model_checkpoint", settings.ckpt)
    elif settings.demo_model and not options.get("sd_model_checkpoint"):
        options.set("sd_model_checkpoint", "tiny-sd15.safetensors")
    options.on_change(lambda key, _value: apply_cache_option(cache, options, key))
    jobs = JobRunner()
    generation = GenerationService(jobs, models, options, paths.outputs, paths.styles_file)
    app = App(
        settings,
        paths,
        options,
        policy,
        models,
        jobs,
        generation,
        ModelService(models, options, jobs),
        ExtrasService(paths.outputs),
        PromptTools(paths.styles_file),
    )
    app.extensions = ExtensionsManager(settings, options)
    app.extensions.load(app)  # the enabled extensions' scripts; failures are reported, not raised
    return app


def apply_cache_option(cache: ModelCache, options: OptionsStore, key: str) -> None:
    """Settings that size the model cache take effect at once (the next acquire() applies them)."""
    if key in CACHE_OPTIONS:
        configure_cache(cache, {name: options.get(name) for name in CACHE_OPTIONS})


def find_port(host: str, wanted: int | None, default: int) -> int:
    """The explicit port if free (else a clear error), or the first free port from the default upward."""

    def free(port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
            return True

    if wanted is not None:
        if not free(wanted):
            raise SystemExit(f"Port {wanted} is already in use on {host}. Stop the other server or pass --port N.")
        return wanted
    for port in range(default, default + 100):
        if free(port):
            return port
    raise SystemExit(f"No free port between {default} and {default + 99}; pass --port N.")


def share_reachable(host: str = "api.gradio.app", timeout: float = 3.0) -> bool:
    """Whether Gradio's share service resolves; only asked when the user passed --share."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False
    finally:
        socket.setdefaulttimeout(previous)


def offer_default_model(app: App) -> None:
    """A1111's start-up behaviour with no checkpoint: offer (or with --download-default-model, do) the download
    of SD 1.5. Nothing touches the network unless the user agrees; a failed download leaves the server usable.
    """
    settings = app.settings
    if app.model_service.missing_notice() is None or settings.demo_model or settings.no_download_sd_model:
        return
    from webui.core.errors import UserError
    from webui.models.download import offer_default_download

    try:
        path = offer_default_download(
            app.paths.checkpoints, assume_yes=settings.download_default_model, interactive=sys.stdin.isatty()
        )
    except UserError as exc:
        log.error(exc.message)
        return
    if path is not None:
        app.models.refresh()


def main(argv: list[str] | None = None) -> int:
    """Start the server (web UI, and the API with --api or --nowebui). Blocks until Ctrl+C."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args, PROJECT_ROOT)
    if settings.share and not share_reachable():
        print(
            "--share needs a connection to Gradio's share servers, and this machine cannot reach them "
            "(offline?). Use --listen to serve your local network instead.",
            file=sys.stderr,
        )
        return 2
    if settings.share:
        log.warning("--share is not supported yet; serving locally only. Use --listen for your local network.")
    launch_args = getattr(sys.modules.get("launch"), "args", None)
    if not getattr(launch_args, "skip_install", False):  # A1111's launcher runs extensions' install.py each start
        from webui.extensions.manager import run_enabled_install_scripts

        run_enabled_install_scripts(settings)
    app = build_app(settings)
    offer_default_model(app)
    notice = app.model_service.missing_notice()
    if notice:
        log.warning(notice.message)
    import uvicorn

    from webui.server import create_server

    port = find_port(settings.server_name, settings.port, settings.wanted_port)
    with app:
        server = create_server(app)
        url = f"http://{'127.0.0.1' if not settings.listen else settings.server_name}:{port}"
        print(f"Running on local URL:  {url}", flush=True)
        if settings.autolaunch:
            import webbrowser

            webbrowser.open(url)
        uvicorn.run(server, host=settings.server_name, port=port, log_level="warning")
    return 0
