// The browser's time zone, where a page asks for it (elements with data-browser-time-zone):
// - a hidden input left empty is filled in (a ticket then shows technicians the requester's local time);
// - a select is set to it when the person has never chosen a zone (the Profile page), and the
//   element named by data-browser-time-zone-note is shown, saying it is only a suggestion until saved.
// Without JavaScript nothing changes: the field stays empty and the server uses its default.
(function () {
  "use strict";

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      return "";
    }
  }

  function fill(root) {
    var zone = browserZone();
    if (!zone || !root || !root.querySelectorAll) {
      return;
    }
    var fields = root.querySelectorAll("[data-browser-time-zone]");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.tagName === "SELECT") {
        if (field.value || !field.querySelector('option[value="' + zone.replace(/"/g, "") + '"]')) {
          continue;  // a zone chosen already, or one the list doesn't offer
        }
        field.value = zone;
        var note = document.getElementById(field.getAttribute("data-browser-time-zone-note") || "");
        if (note) {
          note.hidden = false;
        }
      } else if (!field.value) {
        field.value = zone;
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { fill(document); });
  } else {
    fill(document);
  }
  // Forms swapped in by htmx (the walk's "Where can the help desk reach you?" step).
  document.addEventListener("htmx:load", function (event) { fill(event.target); });
})();
