// Registrar UI helpers (no inline scripts: the CSP forbids them). Everything works without JavaScript too.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A form sends once: the button is disabled and says what is happening (captures take a moment).
  document.querySelectorAll("form[data-busy]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      var button = event.submitter || form.querySelector("button[type=submit]");
      if (!button) return;
      window.setTimeout(function () {
        button.disabled = true;
        if (form.dataset.busy) button.textContent = form.dataset.busy;
      }, 0);
    });
  });
  // The presiding officer's exception dialog.
  document.querySelectorAll("[data-dialog]").forEach(function (opener) {
    var dialog = document.getElementById(opener.dataset.dialog);
    if (!dialog || typeof dialog.showModal !== "function") return;
    opener.addEventListener("click", function () { dialog.showModal(); });
    dialog.querySelectorAll("[data-close]").forEach(function (b) {
      b.addEventListener("click", function () { dialog.close(); });
    });
  });
  // A signed-in screen nobody uses: once the server's idle limit has passed since this page came (the server has
  // ended the session by then: api/sessions.py), go to the sign-in page, which says why, so that a voter's details
  // do not stay on an unattended screen until someone touches it. A limit longer than a timer can wait (24 days) is
  // left to the server.
  var idle = parseInt(document.body.dataset.idleSeconds || "", 10);
  if (idle > 0 && (idle + 2) * 1000 < 2147483647) {
    window.setTimeout(function () { window.location.assign(document.body.dataset.idleUrl); }, (idle + 2) * 1000);
  }
  // A CNIC typed or scanned as 13 digits (and nothing else) gets its dashes: 12345-1234567-1. Anything else is left
  // as typed, a digit too many included, so that the station refuses it ("expected 13 digits") instead of looking up
  // a number the officer did not type.
  document.querySelectorAll("input[data-cnic]").forEach(function (input) {
    input.addEventListener("input", function () {
      var d = input.value.replace(/[\s-]/g, "");
      if (/^[0-9]{13}$/.test(d)) input.value = d.slice(0, 5) + "-" + d.slice(5, 12) + "-" + d.slice(12);
    });
  });
});
