// Proposal wizard: "add row" for formsets and the budget currency hint. Every form works
// without it (each formset always renders one blank row).
(function () {
  "use strict";

  function own(box, selector) {
    // Elements of this formset, not of a formset nested inside it.
    return Array.prototype.filter.call(box.querySelectorAll(selector), function (el) {
      return el.closest("[data-formset]") === box;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-formset-add]");
    if (!button) {
      return;
    }
    var box = button.closest("[data-formset]");
    var prefix = box.getAttribute("data-prefix");
    var total = box.querySelector('input[name="' + prefix + '-TOTAL_FORMS"]');
    var template = own(box, "template[data-formset-template]")[0];
    var rows = own(box, "[data-formset-rows]")[0];
    if (!total || !template || !rows) {
      return;
    }
    var index = parseInt(total.value, 10) || 0;
    var placeholder = new RegExp(box.getAttribute("data-placeholder") || "__prefix__", "g");
    rows.insertAdjacentHTML("beforeend", template.innerHTML.replace(placeholder, String(index)));
    total.value = String(index + 1);
    var added = rows.lastElementChild;
    var first = added && added.querySelector("input:not([type=hidden]), select, textarea");
    if (first) {
      first.focus();
    }
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-currency-source]")) {
      return;
    }
    var option = select.options[select.selectedIndex];
    var cell = select.closest("tr") && select.closest("tr").querySelector("[data-currency-display]");
    if (cell) {
      cell.textContent = (option && option.getAttribute("data-currency")) || "—";
    }
  });
})();
