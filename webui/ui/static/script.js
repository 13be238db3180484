() => {
    // Gradio runs this function once when the page loads.
    const click = (id) => {
        const button = document.getElementById(id);
        if (button && !button.disabled) button.click();
    };

    // A1111's prompt hotkeys: Ctrl+Enter (or Cmd+Enter) generates, Alt+Enter skips, Esc interrupts.
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

    // The jobs this browser submitted, kept across reloads (as A1111 1.x keeps its task id): a reloaded page
    // follows the running ones again and shows the last result; the Queue panel lists them.
    const STORE = "sd_jobs";
    const KEEP = 20;
    const load = () => {
        try {
            const jobs = JSON.parse(localStorage.getItem(STORE) || "[]");
            return Array.isArray(jobs) ? jobs : [];
        } catch (error) {
            return [];
        }
    };
    const save = (jobs) => localStorage.setItem(STORE, JSON.stringify(jobs.slice(-KEEP)));
    const toOpen = {};
    let action = "";

    const selectTab = (label) => {
        const tab = [...document.querySelectorAll("#tabs button[role='tab']")].find(
            (button) => button.innerText.trim() === label,
        );
        if (tab) tab.click();
    };

    window.sdJobs = {
        remember(tab, ids, prompt) {
            // one click may queue several jobs (img2img's Batch): "id1,id2,..."
            const added = String(ids || "").split(",").filter(Boolean);
            const jobs = load().filter((job) => !added.includes(job.id));
            const label = String(prompt || "").slice(0, 120);
            for (const id of added) jobs.push({ id, tab, label, at: Date.now() });
            save(jobs);
        },
        idsFor(tab) {
            return load()
                .filter((job) => job.tab === tab)
                .map((job) => job.id)
                .join(",");
        },
        reconnectIds(tab) {
            const id = toOpen[tab];
            delete toOpen[tab];
            return id || window.sdJobs.idsFor(tab);
        },
        json() {
            return JSON.stringify(load());
        },
        open(tab, id) {
            toOpen[tab] = id;
            selectTab(tab);
            click(`${tab}_reconnect`);
        },
        takeAction() {
            const taken = action;
            action = "";
            return taken;
        },
    };

    document.addEventListener("click", (event) => {
        const button = event.target.closest && event.target.closest("[data-queue-action]");
        if (!button) return;
        const { queueAction, jobId, jobTab } = button.dataset;
        if (queueAction === "open") {
            window.sdJobs.open(jobTab, jobId);
            return;
        }
        action = `${queueAction}:${jobId}`;
        click("queue_action");
    });

    // After a reload: each tab with jobs of this browser follows them again (the buttons appear once Gradio has
    // rendered the page).
    const reconnect = (tries) => {
        const buttons = [...document.querySelectorAll("[id$='_reconnect']")];
        if (!buttons.length) {
            if (tries > 0) setTimeout(() => reconnect(tries - 1), 200);
            return;
        }
        for (const button of buttons) {
            if (window.sdJobs.idsFor(button.id.replace(/_reconnect$/, ""))) button.click();
        }
    };
    reconnect(100);
}
