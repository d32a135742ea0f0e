// Sortable lists: a click (or Enter) on a column heading of any table.grid sorts its rows by that column,
// a second click reverses. Numbers sort as numbers ("25 kg" < "120 kg"), text in Chinese collation order.
// Served locally; nothing is loaded from outside (the plant network is air-gapped).
(function () {
  "use strict";
  var label = (document.currentScript && document.currentScript.getAttribute("data-label")) || "";
  var collator = new Intl.Collator(document.documentElement.lang || "zh-CN", { numeric: true, sensitivity: "base" });

  function key(row, index) {
    var cell = row.cells[index];
    return cell ? (cell.getAttribute("data-sort") || cell.textContent || "").trim() : "";
  }

  function compare(a, b) {
    var x = parseFloat(a.replace(/,/g, "")), y = parseFloat(b.replace(/,/g, ""));
    if (!isNaN(x) && !isNaN(y) && /^[-\d.,]/.test(a) && /^[-\d.,]/.test(b) && x !== y) return x - y;
    return collator.compare(a, b);
  }

  function sortBy(table, th) {
    var body = table.tBodies[0];
    if (!body) return;
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.filter.call(body.rows, function (r) { return r.cells.length > index; });
    rows.sort(function (a, b) {
      var order = compare(key(a, index), key(b, index));
      return ascending ? order : -order;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  function arm(root) {
    Array.prototype.forEach.call(root.querySelectorAll("table.grid thead th"), function (th) {
      if (th.hasAttribute("data-sortable") || th.closest("table").hasAttribute("data-nosort")) return;
      th.setAttribute("data-sortable", "");
      th.setAttribute("tabindex", "0");
      if (label) th.setAttribute("title", label);
      var table = th.closest("table");
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sortBy(table, th); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { arm(document); });
  document.addEventListener("htmx:afterSwap", function (e) { arm(e.target); });
})();
