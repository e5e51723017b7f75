// Shieldwall's progressive enhancement: every page works without it.
(function () {
  "use strict";
  var root = document.documentElement;

  // The theme: light, dark or the system's; kept in a cookie so the server renders it.
  function setTheme(value) {
    root.setAttribute("data-theme", value);
    document.cookie = "shieldwall_theme=" + value + "; path=/ui; max-age=31536000; samesite=strict";
  }
  document.addEventListener("click", function (e) {
    var t = e.target.closest("[data-theme-toggle]");
    if (!t) return;
    var now = root.getAttribute("data-theme");
    var dark = now === "dark" || (now === "auto" && window.matchMedia("(prefers-color-scheme: dark)").matches);
    setTheme(dark ? "light" : "dark");
  });

  // Forms that change a lot ask first.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });

  // "Select all" boxes for bulk actions.
  document.addEventListener("change", function (e) {
    var all = e.target.closest("[data-select-all]");
    if (!all) return;
    var name = all.getAttribute("data-select-all");
    document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });

  // Keyboard: "/" searches; "g" then a letter goes to a page.
  var pages = { h: "/ui/", e: "/ui/events", s: "/ui/attributes", a: "/ui/alerts", c: "/ui/cases", r: "/ui/assistance", d: "/ui/detection" };
  var pending = false;
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "/") {
      var q = document.getElementById("quick");
      if (q) { e.preventDefault(); q.focus(); }
      return;
    }
    if (pending && pages[e.key]) { window.location.href = pages[e.key]; pending = false; return; }
    pending = e.key === "g";
  });

  // The field a form error names gets the focus.
  var flash = document.querySelector(".flash.error[data-field]");
  if (flash) {
    var name = flash.getAttribute("data-field").split(".").pop().replace(/\[\d+\]$/, "");
    var input = document.querySelector('[name="' + name + '"]');
    if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
  }
})();
