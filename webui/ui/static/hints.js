() => {
    // Buttons that show only a symbol (🔄, 🎲️, ↙️ ...) get an accessible name and a tooltip, as A1111's hints.js
    // gives them titles: screen readers read the name, and Debian's chromium without an emoji font draws the
    // symbols as empty boxes, so the tooltip is what tells the user what the button does.
    const BY_ID = [
        [/^refresh_sd_model_checkpoint$/, "Refresh the checkpoint list"],
        [/^refresh_sd_vae$/, "Refresh the VAE list"],
        [/_extra_refresh$/, "Refresh the cards"],
        [/_refresh_models$/, "Refresh the model list"],
        [/_trigger_preprocessor$/, "Run preprocessor: show the detected map"],
        [/_swap_/, "Swap the two axes"],
    ];
    const BY_SYMBOL = {
        "\u{1f504}": "Refresh",
        "\u2199\ufe0f": "Read generation parameters from prompt or last generation if prompt is empty into user interface.",
        "\u{1f4cb}": "Apply selected styles to current prompt",
        "\u{1f58c}\ufe0f": "Edit styles",
        "\u{1f3b2}\ufe0f": "Set seed to -1, which will cause a new random number to be used every time",
        "\u267b\ufe0f": "Reuse seed from last generation, mostly useful if it was randomized",
        "\u21c5": "Switch width/height",
        "\u{1f5bc}\ufe0f": "Send image and generation parameters to img2img tab.",
        "\u{1f3a8}\ufe0f": "Send image and generation parameters to img2img inpaint tab.",
        "\u{1f4a5}": "Run preprocessor",
        "\u{1f4c2}": "Open images output directory",
        "\u{1f4be}": "Save",
        "\u{1f5d1}\ufe0f": "Clear",
        "\u{1f6e0}\ufe0f": "Edit user metadata",
        "\u{1f4d0}": "Send the picture's size to the generation size",
        "\u21c6": "Swap",
    };
    const wordy = /[\p{L}\p{N}]/u;
    const hintFor = (button, text) => {
        const id = button.id || button.closest("[id]")?.id || "";
        const byId = BY_ID.find(([pattern]) => pattern.test(id));
        return byId ? byId[1] : BY_SYMBOL[text] || BY_SYMBOL[text.replace(/\ufe0f/g, "")] || "";
    };
    const label = (button) => {
        const text = (button.textContent || "").trim();
        if (!text || wordy.test(text)) return;  // a word says it; icon-only buttons are Gradio's own
        const name = (button.getAttribute("aria-label") || "").trim() || hintFor(button, text);
        if (!name) return;
        if (!button.getAttribute("aria-label")) button.setAttribute("aria-label", name);
        if (!button.getAttribute("title")) button.setAttribute("title", name);
    };
    let pending = false;
    const labelAll = () => {
        pending = false;
        document.querySelectorAll("button:not([title]), button:not([aria-label])").forEach(label);
    };
    new MutationObserver(() => {
        if (!pending) {
            pending = true;
            requestAnimationFrame(labelAll);
        }
    }).observe(document.documentElement, { childList: true, subtree: true });
    labelAll();
}
