// A1111's page globals that extension scripts use (gradioApp, onUiLoaded, onUiUpdate, updateInput, opts, ...).
(function () {
    if (window.gradioApp) return;
    const callbacks = {loaded: [], update: [], after: [], tab: [], options: []};
    let loaded = false;
    let afterTimer = null;
    let currentTab = null;

    window.gradioApp = function () {
        const elems = document.getElementsByTagName("gradio-app");
        const elem = elems.length === 0 ? document : elems[0];
        if (elem !== document) elem.getElementById = (id) => document.getElementById(id);
        return elem.shadowRoot ? elem.shadowRoot : elem;
    };
    window.opts = window.opts || {};
    window.onUiLoaded = (cb) => callbacks.loaded.push(cb);
    window.onUiUpdate = (cb) => callbacks.update.push(cb);
    window.onAfterUiUpdate = (cb) => callbacks.after.push(cb);
    window.onUiTabChange = (cb) => callbacks.tab.push(cb);
    window.onOptionsChanged = (cb) => callbacks.options.push(cb);
    window.onOptionsAvailable = (cb) => callbacks.options.push(cb);
    window.get_uiCurrentTab = () => gradioApp().querySelector("#tabs button[role='tab'][aria-selected='true']");
    window.get_uiCurrentTabContent = () => {
        const tabs = gradioApp().querySelectorAll("[id^='tab_']");
        for (const tab of tabs) if (tab.offsetParent !== null) return tab;
        return null;
    };
    window.uiElementIsVisible = (el) => el !== null && el.offsetParent !== null;
    window.uiElementInSight = (el) => {
        const rect = el.getBoundingClientRect();
        return rect.top < window.innerHeight && rect.bottom > 0;
    };
    window.updateInput = function (target) {
        const e = new Event("input", {bubbles: true});
        Object.defineProperty(e, "target", {value: target});
        target.dispatchEvent(e);
    };

    function run(list, ...args) {
        for (const cb of list) {
            try {
                cb(...args);
            } catch (err) {
                console.error("error running extension callback", cb, err);
            }
        }
    }

    const observer = new MutationObserver((mutations) => {
        if (!loaded && gradioApp().querySelector("#tabs")) {
            loaded = true;
            run(callbacks.loaded);
            run(callbacks.options);
        }
        run(callbacks.update, mutations);
        clearTimeout(afterTimer);
        afterTimer = setTimeout(() => run(callbacks.after), 200);
        const tab = window.get_uiCurrentTab();
        if (tab && tab !== currentTab) {
            currentTab = tab;
            run(callbacks.tab);
        }
    });
    const start = () => observer.observe(document.body || document.documentElement, {childList: true, subtree: true});
    if (document.body) start();
    else document.addEventListener("DOMContentLoaded", start);
})();
