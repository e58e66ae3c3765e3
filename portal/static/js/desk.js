// The queue refreshes itself every 30 s, but only while its tab is visible (no polling in the background),
// and never under the technician's hands: not while a box is ticked (a refresh would untick it) nor while
// the focus is in the queue (on a link, a box, the bulk form). The next tick after they leave refreshes.
// A filter or page change still swaps the queue at once: htmx puts the focus back on the control with the
// same id, and the summary is read out from the live region outside the queue (see queue.html).
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.getAttribute && elt.getAttribute("data-poll") === "visible-only" &&
        (document.hidden || elt.querySelector("input[type=checkbox]:checked") ||
         elt.contains(document.activeElement))) {
      event.preventDefault();
    }
  });

  // "Choose all on this page": hidden without JavaScript (where it could do nothing), each box works alone.
  function boxes(all) {
    var table = all.closest("table");
    return table ? table.querySelectorAll("input[type=checkbox][name=ticket]") : [];
  }

  function reveal(root) {
    if (!root || !root.querySelectorAll) { return; }
    Array.prototype.forEach.call(root.querySelectorAll("[data-choose-all]"), function (all) {
      all.hidden = false;
    });
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box || box.type !== "checkbox") { return; }
    var table = box.closest && box.closest("table");
    var all = table && table.querySelector("[data-choose-all]");
    if (!all) { return; }
    var each = boxes(all);
    if (box === all) {
      Array.prototype.forEach.call(each, function (b) { b.checked = all.checked; });
      all.indeterminate = false;
      return;
    }
    if (box.name !== "ticket") { return; }
    var ticked = Array.prototype.filter.call(each, function (b) { return b.checked; }).length;
    all.checked = ticked > 0 && ticked === each.length;
    all.indeterminate = ticked > 0 && ticked < each.length;
  });

  document.addEventListener("htmx:load", function (event) { reveal(event.detail && event.detail.elt); });
  reveal(document);
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
