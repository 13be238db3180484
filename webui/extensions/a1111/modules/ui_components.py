"""A1111's `modules.ui_components`: thin Gradio wrappers extensions build their UIs from."""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from webui.extensions.a1111.gradio_compat import no_pyi_stubs

__all__ = [
    "DropdownEditable",
    "DropdownMulti",
    "FormColumn",
    "FormGroup",
    "FormHTML",
    "FormRow",
    "InputAccordion",
    "ResizeHandleRow",
    "ToolButton",
]


# The classes are defined with Gradio's .pyi stub writing off (it would write ui_components.pyi here).
with no_pyi_stubs():

    class _SameFrontend:
        """Render with the parent's Svelte component (a subclass would otherwise ask for one named after itself)."""

        def get_block_name(self) -> str:
            for base in type(self).__mro__[1:]:
                if base.__module__.startswith("gradio."):
                    return base.__name__.lower()
            return "html"

    class FormComponent:
        def get_expected_parent(self) -> type:
            return FormRow

    class ToolButton(_SameFrontend, gr.Button):
        """A small square button with an emoji, as A1111's 🔄 buttons."""

        # Gradio reads a component's properties from its __init__ signature: keep the parent's (here and below).
        @functools.wraps(gr.Button.__init__)
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            classes = kwargs.pop("elem_classes", [])
            super().__init__(*args, elem_classes=["tool", *classes], **kwargs)

    class ResizeHandleRow(_SameFrontend, gr.Row):
        pass

    class FormRow(_SameFrontend, gr.Row):
        pass

    class FormColumn(_SameFrontend, gr.Column):
        pass

    class FormGroup(_SameFrontend, gr.Group):
        pass

    class FormHTML(_SameFrontend, gr.HTML):
        pass

    class FormColorPicker(_SameFrontend, gr.ColorPicker):
        pass

    class DropdownMulti(_SameFrontend, gr.Dropdown):
        @functools.wraps(gr.Dropdown.__init__)
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(multiselect=True, **kwargs)

    class DropdownEditable(_SameFrontend, gr.Dropdown):
        @functools.wraps(gr.Dropdown.__init__)
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(allow_custom_value=True, **kwargs)

    class InputAccordion(_SameFrontend, gr.Checkbox):
        """A checkbox whose value is "enabled", shown with an accordion that holds the extension's controls.

        Use as A1111's: `with InputAccordion(False, label="My ext") as enabled: ...` — `enabled` is the checkbox input.
        """

        @functools.wraps(gr.Checkbox.__init__)
        def __init__(self, value: bool = False, **kwargs: Any) -> None:
            label = kwargs.get("label", "")
            elem_id = kwargs.pop("elem_id", None)
            self.accordion_id = f"{elem_id}-accordion" if elem_id else None
            self.accordion = gr.Accordion(label, open=bool(kwargs.pop("open", value)), elem_id=self.accordion_id)
            with self.accordion:
                super().__init__(value=value, elem_id=elem_id, **kwargs)

        def extra(self) -> gr.Column:
            """A column next to the label in A1111; here simply a column inside the accordion."""
            with self.accordion:
                return gr.Column(min_width=0)

        def __enter__(self) -> InputAccordion:
            self.accordion.__enter__()
            return self

        def __exit__(self, *exc: Any) -> None:
            self.accordion.__exit__(*exc)
