"""First paint of the browser UI: headless Debian chromium (Playwright) loads the page of a `--demo-model` App
(tiny models, served by uvicorn on 127.0.0.1 in a thread, as tests/browser/conftest.py does) and times how long
after navigation txt2img's prompt box is visible and accepts typing. Median of --loads loads (a fresh browser
context each, so nothing is cached), after one warm-up load.

It also prints what the page is made of: the size of Gradio's page config (components, layout nodes,
dependencies), the JS/CSS we add, the requests the page makes until it is usable (and how many go to
/gradio_api), and the time the browser spends in script.

    venv/bin/python benchmarks/bench_ui_load.py [--loads 5] [--chromium /usr/bin/chromium] [--cpu-throttle 1]

Measured on the shared 2-core box (load average 1-2 from other work), same tree with and without the change,
interleaved runs (median of 5 loads each):

    before (Settings/Extensions built with the page, one handler per trigger): 933 components, 270 handlers,
        880 KiB config; prompt usable after 2.24 s / 1.88 s, script 1.46 s / 1.33 s
    after (Settings/Extensions built on first open, merged handlers): 770 components, 200 handlers, 739 KiB;
        prompt usable after 1.91 s / 1.51 s, script 1.27 s / 1.04 s

What dominates (Chromium CPU profile): Gradio's client walks every component of the page config before the
first paint and matches each against every event handler (find_attached_events, over Svelte state proxies), so
the cost grows with components x handlers; hidden tabs are not mounted (about 520 DOM nodes either way), our JS/CSS
(~9 KB / ~6 KB) and the 5 load-time /gradio_api calls are small. The ControlNet units (3 per tab, ~230 components
and ~60 handlers) are now the largest part of the config.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PROMPT_READY_JS = """() => {
    const box = document.querySelector('#txt2img_prompt textarea');
    return !!box && !box.disabled && box.getClientRects().length > 0 && box.offsetParent !== null;
}"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def demo_server(data_dir: Path) -> Iterator[str]:
    """The App as `python launch.py --demo-model` builds it, its server on a free loopback port."""
    import uvicorn

    from webui.app import build_app
    from webui.config.settings import Settings
    from webui.server import create_server

    app = build_app(Settings(data_dir=data_dir, demo_model=True))
    with app:
        started = time.perf_counter()
        server_app = create_server(app)
        print(f"build_ui + mount: {time.perf_counter() - started:.2f} s")
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(server_app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}/"
        for _ in range(300):
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        try:
            yield url
        finally:
            server.should_exit = True
            thread.join(timeout=15)


def config_facts(url: str) -> dict[str, Any]:
    """Gradio's page config (GET /config): its size and what it holds."""
    with urllib.request.urlopen(url + "config", timeout=30) as response:
        raw = response.read()
    config = json.loads(raw)
    components = config.get("components", [])

    def count_nodes(node: dict[str, Any]) -> int:
        return 1 + sum(count_nodes(child) for child in node.get("children", []) or [])

    by_type: dict[str, int] = {}
    for component in components:
        by_type[component.get("type", "?")] = by_type.get(component.get("type", "?"), 0) + 1
    biggest = sorted(components, key=lambda c: -len(json.dumps(c)))[:5]
    return {
        "config_bytes": len(raw),
        "components": len(components),
        "layout_nodes": count_nodes(config.get("layout", {})),
        "dependencies": len(config.get("dependencies", [])),
        "load_events": sum(1 for d in config.get("dependencies", []) if _is_load_event(d)),
        "by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])[:8]),
        "biggest": [(c.get("type"), (c.get("props") or {}).get("elem_id"), len(json.dumps(c))) for c in biggest],
    }


def _is_load_event(dependency: dict[str, Any]) -> bool:
    return any(target[1] == "load" for target in dependency.get("targets", []) if isinstance(target, list))


def one_load(browser: Any, url: str) -> dict[str, Any]:
    """A fresh context: navigation → prompt box usable, with the requests made until then."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    try:
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_function(PROMPT_READY_JS, polling=20, timeout=60_000)
        ready = time.perf_counter() - started
        metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
        counted = list(requests)
        page.wait_for_timeout(300)
        return {
            "ready_s": ready,
            "requests": len(counted),
            "api_requests": sum("/gradio_api/" in r for r in counted),
            "script_s": metrics.get("ScriptDuration", 0.0),
            "layout_s": metrics.get("LayoutDuration", 0.0) + metrics.get("RecalcStyleDuration", 0.0),
            "dom_nodes": page.evaluate("() => document.getElementsByTagName('*').length"),
        }
    finally:
        context.close()


def our_assets() -> dict[str, int]:
    from webui.ui.blocks import ui_assets

    assets = ui_assets()
    return {"css_bytes": len(assets["css"]), "js_bytes": len(assets["js"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
    parser.add_argument("--screenshot", help="save a 1280x800 screenshot of the loaded page here")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp, demo_server(Path(tmp)) as url:
        facts = config_facts(url)
        print(
            f"page config: {facts['config_bytes'] / 1024:.0f} KiB, {facts['components']} components, "
            f"{facts['layout_nodes']} layout nodes, {facts['dependencies']} event handlers "
            f"({facts['load_events']} on load)"
        )
        print(f"  components by type: {facts['by_type']}")
        print(f"  biggest: {facts['biggest']}")
        print(f"our assets: {our_assets()}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            try:
                one_load(browser, url)  # warm-up: server-side caches, chromium's first start
                loads = [one_load(browser, url) for _ in range(args.loads)]
                if args.screenshot:
                    _screenshot(browser, url, args.screenshot)
            finally:
                browser.close()
    for key in ("ready_s", "script_s", "layout_s", "requests", "api_requests", "dom_nodes"):
        values = [load[key] for load in loads]
        print(f"{key:>13}: median {statistics.median(values):.2f}  (all: {', '.join(f'{v:.2f}' for v in values)})")
    print(
        f"txt2img prompt usable after a median {statistics.median(lo['ready_s'] for lo in loads):.2f} s "
        f"({args.loads} loads)"
    )


def _screenshot(browser: Any, url: str, path: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(PROMPT_READY_JS, timeout=60_000)
    page.wait_for_timeout(1000)
    page.screenshot(path=path)
    context.close()


if __name__ == "__main__":
    main()
