"""A1111's `modules.scripts` for extensions: the `Script` base class with A1111's attributes and methods,
`AlwaysVisible`, `PostprocessImageArgs` and `basedir()`. Selectable scripts (show() → True, with run()) become
entries of the App's script registry through webui.extensions.a1111.script_adapter."""

from __future__ import annotations

import os
import re
from typing import Any

from modules import script_loading
from webui.extensions.a1111.component_hooks import OnComponent

__all__ = [
    "AlwaysVisible", "OnComponent", "PostprocessBatchListArgs", "PostprocessImageArgs", "Script", "ScriptBuiltinUI",
    "basedir",
]  # fmt: skip


class _AlwaysVisible:
    def __repr__(self) -> str:
        return "AlwaysVisible"


AlwaysVisible = _AlwaysVisible()  # show() returns this for scripts whose UI is always shown


class PostprocessImageArgs:
    def __init__(self, image: Any) -> None:
        self.image = image


class PostprocessBatchListArgs:
    def __init__(self, images: list[Any]) -> None:
        self.images = images


class Script:
    """Subclass it, give title(), ui(is_img2img) (Gradio components), show(is_img2img) and run(p, *args)."""

    name: str | None = None
    section: str | None = None
    filename: str | None = None
    args_from: int | None = None
    args_to: int | None = None
    alwayson = False
    is_txt2img = False
    is_img2img = False
    tabname: str | None = None
    group: Any = None
    create_group = True
    infotext_fields: list[Any] | None = None
    paste_field_names: list[str] | None = None
    api_info: Any = None
    setup_for_ui_only = False
    sorting_priority = 0
    controls: list[Any] | None = None
    on_before_component_elem_id: list[Any] | None = None
    on_after_component_elem_id: list[Any] | None = None

    def title(self) -> str:
        raise NotImplementedError()

    def ui(self, is_img2img: bool) -> Any:
        """The Gradio components whose values run() receives, in order."""

    def show(self, is_img2img: bool) -> Any:
        """True: in the Script dropdown; AlwaysVisible: always shown; False: not on this tab."""
        return True

    def run(self, p: Any, *args: Any) -> Any:
        """Make the images, normally with processing.process_images(p); return a Processed."""

    def setup(self, p: Any, *args: Any) -> None: ...
    def before_process(self, p: Any, *args: Any) -> None: ...
    def process(self, p: Any, *args: Any) -> None: ...
    def before_process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None: ...
    def after_extra_networks_activate(self, p: Any, *args: Any, **kwargs: Any) -> None: ...
    def process_batch(self, p: Any, *args: Any, **kwargs: Any) -> None: ...
    def process_before_every_sampling(self, p: Any, *args: Any, **kwargs: Any) -> None: ...
    def postprocess_batch(self, p: Any, *args: Any, **kwargs: Any) -> None: ...
    def postprocess_batch_list(self, p: Any, pp: PostprocessBatchListArgs, *args: Any, **kwargs: Any) -> None: ...
    def postprocess_image(self, p: Any, pp: PostprocessImageArgs, *args: Any) -> None: ...
    def postprocess(self, p: Any, processed: Any, *args: Any) -> None: ...
    def before_hr(self, p: Any, *args: Any) -> None: ...
    def before_component(self, component: Any, **kwargs: Any) -> None: ...
    def after_component(self, component: Any, **kwargs: Any) -> None: ...

    def on_before_component(self, callback: Any, *, elem_id: str) -> None:
        if self.on_before_component_elem_id is None:
            self.on_before_component_elem_id = []
        self.on_before_component_elem_id.append((elem_id, callback))

    def on_after_component(self, callback: Any, *, elem_id: str) -> None:
        if self.on_after_component_elem_id is None:
            self.on_after_component_elem_id = []
        self.on_after_component_elem_id.append((elem_id, callback))

    def describe(self) -> str:
        return ""

    def elem_id(self, item_id: str) -> str:
        """A1111's script_<tab>_<title>_<item_id> (the tab part only for scripts shown on both tabs)."""
        need_tabname = self.show(True) == self.show(False)
        tabkind = "img2img" if self.is_img2img else "txt2img"
        tabname = f"{tabkind}_" if need_tabname else ""
        title = re.sub(r"[^a-z_0-9]", "", re.sub(r"\s", "_", self.title().lower()))
        return f"script_{tabname}{title}_{item_id}"


class ScriptBuiltinUI(Script):
    setup_for_ui_only = True

    def elem_id(self, item_id: str) -> str:
        tabname = "img2img" if self.is_img2img else "txt2img"
        return f"{tabname}_{item_id}"


def basedir() -> str:
    """The folder of the extension being imported (A1111 answers the UI's root after the import)."""
    folder = script_loading.current_basedir()
    if folder is None:
        try:
            folder = script_loading.current().script_path
        except RuntimeError:  # no App bound (a test importing the module on its own)
            return os.getcwd()
    return os.fspath(folder)
