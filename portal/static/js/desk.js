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
