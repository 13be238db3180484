() => {
    // A1111's prompt hotkeys: Ctrl+Enter (or Cmd+Enter) generates, Alt+Enter skips, Esc interrupts.
    // Gradio runs this function once when the page loads.
    const click = (id) => {
        const button = document.getElementById(id);
        if (button && !button.disabled) button.click();
    };
    document.addEventListener("keydown", (event) => {
        const box = event.target.closest && event.target.closest("[id$='_prompt'], [id$='_neg_prompt']");
        if (!box) return;
        const tab = box.id.replace(/_neg_prompt$|_prompt$/, "");
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
            event.preventDefault();
            click(`${tab}_generate`);
        } else if (event.key === "Enter" && event.altKey) {
            event.preventDefault();
            click(`${tab}_skip`);
        } else if (event.key === "Escape") {
            click(`${tab}_interrupt`);
        }
    });
}
