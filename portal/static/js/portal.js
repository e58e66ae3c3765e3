// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // After htmx swaps in a new step, move focus to its heading, so that screen readers announce
  // the new step and keyboard users continue from its top.
  document.addEventListener("htmx:afterSettle", function (event) {
    var step = document.getElementById("flow-step");
    var detail = event.detail || {};
    if (!step) { return; }
    var ours = detail.elt === step || step.contains(detail.elt) ||
      (detail.target && detail.target.id === "flow-step");
    if (!ours) { return; }
    var heading = step.querySelector(".step-heading");
    if (heading) {
      heading.focus();
      if (step.getBoundingClientRect().top < 0) { step.scrollIntoView(); }
    }
  });
})();
