// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // <form data-confirm="…">: ask before an irreversible action (revoking a key, …).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form && form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // <button data-copy-target="#id">: copy the target's text (a new API key) to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy-target]");
    if (!button || !navigator.clipboard) {
      return;
    }
    var target = document.querySelector(button.getAttribute("data-copy-target"));
    if (!target) {
      return;
    }
    navigator.clipboard.writeText(target.textContent.trim()).then(function () {
      var done = button.getAttribute("data-copied-label");
      if (done) {
        button.textContent = done;
      }
    });
  });
})();
