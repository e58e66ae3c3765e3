// Every action answers: with JavaScript on, what happened is said where the person acted.
//
// - A request htmx sends that fails (an error status, the network down, too slow) leaves the page as it
//   was, so nothing typed is lost, and a message next to the form says what went wrong and what to do.
// - A technician's action that worked says so ("Reply sent.") as it does without JavaScript: the server
//   sends the words in an HX-Trigger-After-Settle header ({"portal:done": {"message": ...}}).
// - A form with errors: its summary (from _forms.html) is focused, its links move to their field, and the
//   page title starts with "Error: " (base.html does it for whole pages; here for swapped fragments).
(function () {
  "use strict";

  var ERROR_PREFIX = "Error: ";
  var lastRequest = null; // {elt, path}: where the person acted, to find the form again once swapped

  function wait(seconds) {
    if (!seconds || seconds <= 60) { return "a minute"; }
    var minutes = Math.ceil(seconds / 60);
    return minutes < 120 ? minutes + " minutes" : Math.ceil(minutes / 60) + " hours";
  }

  function hasTyping(form) {
    if (!form || !form.querySelectorAll) { return false; }
    var fields = form.querySelectorAll("textarea, input[type=text], input[type=email], input[type=tel], " +
                                       "input[type=search], input[type=number], input:not([type])");
    for (var i = 0; i < fields.length; i++) { if (fields[i].value.trim()) { return true; } }
    return false;
  }

  function hasFiles(form) {
    if (!form || !form.querySelectorAll) { return false; }
    var inputs = form.querySelectorAll("input[type=file]");
    for (var i = 0; i < inputs.length; i++) { if (inputs[i].files && inputs[i].files.length) { return true; } }
    return false;
  }

  // What is still on the page after a failure: said so the person doesn't type it again (or give up).
  function keptText(form) {
    var typed = hasTyping(form), files = hasFiles(form);
    if (typed && files) { return " What you typed and the files you chose are still here."; }
    if (files) { return " The files you chose are still here."; }
    return typed ? " What you typed is still here." : "";
  }

  // `loading`: the request only fetched something (a search, a page); nothing was being saved.
  function failureText(kind, xhr, form, loading) {
    var typed = keptText(form);
    if (kind === "network") {
      return (loading ? "We couldn't load this" : "We couldn't send this") +
             ": the connection dropped." + typed + " Check your connection and try again.";
    }
    if (kind === "timeout") {
      return "The help desk took too long to answer" + (loading ? "." : ", so this may not have been saved.") +
             typed + " Try again in a moment.";
    }
    var status = xhr ? xhr.status : 0;
    if (status === 429) {
      var after = parseInt(xhr.getResponseHeader("Retry-After") || "", 10);
      return "Too many attempts: wait " + wait(after) + " and try again." + typed;
    }
    if (status === 400) {
      return "This page had expired, so nothing was sent." + (hasTyping(form) ? " Copy what you typed, then" : "") +
             " reload the page and try again.";
    }
    if (status === 401) {
      return "You were signed out, so this wasn't saved." + typed +
             " Sign in again in a new tab or window, then come back here and try again.";
    }
    if (status === 403) {
      return "Your account can't do this, or you were signed out." + (hasTyping(form) ? " Copy what you typed, then" : "") +
             " reload the page to sign in again.";
    }
    if (status === 404) {
      return "We couldn't find this any more: it may have been removed or moved. Reload the page to see it as it is now.";
    }
    if (status === 413) {
      return "That is more than we accept in one go, so nothing was sent." + typed + " Make it smaller and try again.";
    }
    if (status === 503) {
      return "The help desk is busy for a moment, so " + (loading ? "we couldn't show this." : "nothing was saved.") +
             typed + " Try again in a minute.";
    }
    return "Something went wrong on our side, so " + (loading ? "we couldn't show this." : "this wasn't saved.") +
           typed + " Try again in a moment.";
  }

  // The form the person used (or the element itself when it is not in a form: a search box, a button).
  function placeOf(elt) {
    if (!elt || !elt.closest) { return null; }
    return elt.closest("form") || elt;
  }

  function note(place, className, text, role) {
    var old = place.querySelector ? place.querySelector(":scope > ." + className) : null;
    if (old) { old.remove(); }
    var p = document.createElement("p");
    p.className = className;
    if (role) { p.setAttribute("role", role); }
    p.textContent = text;
    if (place.tagName === "FORM") {
      place.appendChild(p);
    } else {
      place.insertAdjacentElement("afterend", p);
    }
    return p;
  }

  function clearNotes(place) {
    if (!place || !place.querySelectorAll) { return; }
    var found = place.querySelectorAll(".request-failed, .action-done");
    for (var i = 0; i < found.length; i++) { found[i].remove(); }
    var next = place.nextElementSibling;
    if (next && /(^| )(request-failed|action-done)( |$)/.test(next.className)) { next.remove(); }
  }

  function failed(kind) {
    return function (event) {
      var detail = event.detail || {};
      var place = placeOf(detail.elt);
      if (!place || !document.body.contains(place)) { place = document.getElementById("main") || document.body; }
      var verb = detail.requestConfig && detail.requestConfig.verb;
      note(place, "request-failed", failureText(kind, detail.xhr, place, verb === "get"), "alert");
    };
  }

  document.addEventListener("htmx:responseError", failed("status"));
  document.addEventListener("htmx:sendError", failed("network"));
  document.addEventListener("htmx:timeout", failed("timeout"));

  document.addEventListener("htmx:beforeRequest", function (event) {
    var detail = event.detail || {};
    if (event.defaultPrevented) { return; }
    var place = placeOf(detail.elt);
    clearNotes(place);
    lastRequest = { elt: detail.elt, path: detail.pathInfo ? detail.pathInfo.requestPath : null };
  });

  // -- what a technician's action did -------------------------------------------------------------------

  function formFor(request) {
    if (!request) { return null; }
    if (request.elt && document.body.contains(request.elt)) { return placeOf(request.elt); }
    if (!request.path) { return null; }
    var candidates = document.querySelectorAll("[hx-post], [hx-get], [hx-put], [hx-patch], [hx-delete]");
    for (var i = 0; i < candidates.length; i++) {
      var c = candidates[i];
      var path = c.getAttribute("hx-post") || c.getAttribute("hx-get") || c.getAttribute("hx-put") ||
                 c.getAttribute("hx-patch") || c.getAttribute("hx-delete");
      if (path === request.path) { return placeOf(c); }
    }
    return null;
  }

  // One message, where the person acted (or where flash messages go): a status region, put in the page
  // empty and filled a moment later, so screen readers read it out as they do a flash message.
  document.addEventListener("portal:done", function (event) {
    var message = event.detail && (event.detail.message || event.detail.value);
    if (!message) { return; }
    var old = document.querySelectorAll(".action-done");
    for (var i = 0; i < old.length; i++) { old[i].remove(); }
    var place = formFor(lastRequest);
    var shown;
    if (place) {
      shown = note(place, "action-done", "", "status");
    } else {
      var main = document.getElementById("main") || document.body;
      shown = document.createElement("p");
      shown.className = "flash flash-success action-done";
      shown.setAttribute("role", "status");
      main.insertBefore(shown, main.firstChild);
    }
    window.setTimeout(function () { shown.textContent = message; }, 100);
    // The swap took the button that had the keyboard's focus (a new one has no id for htmx to find it by):
    // the focus goes back to the form used, not to the top of the page.
    if (place && (!document.activeElement || document.activeElement === document.body)) {
      var control = place.querySelector("button, select, input:not([type=hidden]), textarea");
      if (control) { control.focus({preventScroll: true}); }
    }
  });

  // -- forms with errors -----------------------------------------------------------------------------------

  function markTitle() {
    var hasErrors = !!document.querySelector("[data-error-summary]");
    var title = document.title;
    if (hasErrors && title.indexOf(ERROR_PREFIX) !== 0) {
      document.title = ERROR_PREFIX + title;
    } else if (!hasErrors && title.indexOf(ERROR_PREFIX) === 0) {
      document.title = title.slice(ERROR_PREFIX.length);
    }
  }

  function focusSummary(within) {
    var summary = (within || document).querySelector("[data-error-summary]");
    if (summary) { summary.focus(); }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-error-summary] a[href^='#']");
    if (!link) { return; }
    var field = document.getElementById(decodeURIComponent(link.getAttribute("href").slice(1)));
    if (!field) { return; }
    event.preventDefault();
    // A group of choices: its first choice takes the focus; the legend or label is scrolled into view.
    var target = field.matches("input, select, textarea, button") ? field :
      (field.querySelector("input, select, textarea") || field);
    var label = target.id ? document.querySelector("label[for='" + CSS.escape(target.id) + "']") : null;
    var fieldset = target.closest("fieldset");
    (fieldset || label || target).scrollIntoView({ block: "start" });
    target.focus({ preventScroll: true });
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    markTitle();
    var settled = event.target; // the swapped-in element
    if (settled && settled.querySelector && (settled.matches("[data-error-summary]") ||
        settled.querySelector("[data-error-summary]"))) {
      focusSummary(settled.matches("[data-error-summary]") ? settled.parentNode : settled);
    }
  });

  function ready() {
    markTitle();
    focusSummary(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
