// The queue refreshes itself every 30 s, but only while its tab is visible (no polling in the background).
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.getAttribute && elt.getAttribute("data-poll") === "visible-only" &&
        (document.hidden || elt.querySelector("input[type=checkbox]:checked"))) {
      event.preventDefault(); // hidden tab, or tickets being chosen to link: a refresh would untick them
    }
  });
})();

// Canned responses on a ticket: "Insert" puts the chosen response (its placeholders already filled in
// by the server, in the option's data-body) where the cursor is, keeping what was typed; the preview
// follows the list. Without JavaScript the button posts the form and the server appends it instead.
(function () {
  "use strict";
  function chosenBody(select) {
    var option = select && select.options[select.selectedIndex];
    return option ? option.getAttribute("data-body") || "" : "";
  }

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select || select.id !== "canned") { return; }
    var preview = document.getElementById("canned-preview");
    if (preview) { preview.textContent = chosenBody(select); }
  });

  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest && event.target.closest("[data-canned-insert]");
    if (!button) { return; }
    var form = button.form;
    var select = form && form.querySelector("select[name=canned]");
    var area = form && form.querySelector("textarea[name=body]");
    if (!select || !area) { return; } // let the form post: the server inserts it
    event.preventDefault();
    var text = chosenBody(select);
    var value = area.value;
    var start = value.length;
    var end = value.length; // never in the message yet: at its end
    if (document.activeElement === area) {
      start = area.selectionStart;
      end = area.selectionEnd;
    } else if (area.getAttribute("data-cursor")) {
      // The click moved the focus off the message: use where its cursor was when it was left.
      var saved = area.getAttribute("data-cursor").split(",");
      start = Math.min(parseInt(saved[0], 10) || 0, value.length);
      end = Math.min(Math.max(parseInt(saved[1], 10) || 0, start), value.length);
    }
    area.value = value.slice(0, start) + text + value.slice(end);
    var caret = start + text.length;
    area.focus();
    area.setSelectionRange(caret, caret);
    area.setAttribute("data-cursor", caret + "," + caret);
    area.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // Remember the message's cursor when it loses the focus (to the list or the button).
  document.addEventListener("focusout", function (event) {
    var area = event.target;
    if (area && area.tagName === "TEXTAREA" && area.name === "body" && area.id === "reply-body") {
      area.setAttribute("data-cursor", area.selectionStart + "," + area.selectionEnd);
    }
  });
})();
