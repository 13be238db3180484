// The Extensions tab (as A1111's javascript/extensions.js): collect the table's checkboxes for "Apply", and
// install a row of the index through the hidden URL box and button.
function extensions_apply(_disabled, _update, disableAll) {
    const disabled = [];
    const update = [];
    gradioApp().querySelectorAll('#extensions input[type="checkbox"]').forEach((box) => {
        if (box.name.startsWith("enable_") && !box.checked) disabled.push(box.name.substring(7));
        if (box.name.startsWith("update_") && box.checked) update.push(box.name.substring(7));
    });
    return [JSON.stringify(disabled), JSON.stringify(update), disableAll];
}

function extensions_check_all(box) {
    gradioApp().querySelectorAll('#extensions input[name^="enable_"]').forEach((b) => {
        b.checked = box.checked;
    });
}

function install_extension_from_index(button, url) {
    button.disabled = "disabled";
    button.value = "Installing...";
    const box = gradioApp().querySelector("#extension_to_install textarea, #extension_to_install input");
    box.value = url;
    updateInput(box);
    gradioApp().querySelector("#install_extension_button").click();
}
