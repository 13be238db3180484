() => {
    // Extra networks (A1111's activePromptTextarea): remember which prompt box of each tab was used last, so a
    // Textual Inversion card goes into the negative prompt when that is where the user was typing.
    window.extraNetworksActivePrompt = window.extraNetworksActivePrompt || {};
    document.addEventListener("focusin", (event) => {
        if (event.target.tagName !== "TEXTAREA" || !event.target.closest) return;
        const box = event.target.closest("[id$='_neg_prompt'], [id$='_prompt']");
        if (!box) return;
        const negative = box.id.endsWith("_neg_prompt");
        const tab = box.id.replace(/_neg_prompt$|_prompt$/, "");
        window.extraNetworksActivePrompt[tab] = negative ? "negative" : "prompt";
    });
    // The search box of a page: hide the cards whose search text lacks a word of the query.
    window.extraNetworksFilter = (prefix, query) => {
        const words = String(query || "").toLowerCase().split(/\s+/).filter(Boolean);
        document.querySelectorAll(`#${prefix}_cards .card`).forEach((card) => {
            const text = card.dataset.search || "";
            card.style.display = words.every((word) => text.includes(word)) ? "" : "none";
        });
    };
    // Typing in a page's search box (`<prefix>_extra_search`) filters its cards at once; one listener for all.
    document.addEventListener("input", (event) => {
        const box = event.target.closest && event.target.closest("[id$='_extra_search']");
        if (box) window.extraNetworksFilter(box.id.replace(/_extra_search$/, ""), event.target.value);
    });
    // Esc closes an open "Edit user metadata" dialog.
    document.addEventListener("keydown", (event) => {
        if (event.key !== "Escape") return;
        document.querySelectorAll(".edit-user-metadata").forEach((dialog) => {
            if (dialog.offsetParent === null) return;
            const cancel = dialog.querySelector("[id$='_edit_user_metadata_cancel']");
            if (cancel) cancel.click();
        });
    });
}
