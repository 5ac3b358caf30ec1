/* NetTrace: small enhancements; every page works without this file. */
(function () {
  "use strict";
  var root = document.documentElement.getAttribute("data-root") || "";
  function siteUrl(path) { return new URL(root + path, location.href).href; }

  /* Dashboard: the filter box and the category tabs hide rows and sections. */
  function setupBoard() {
    var box = document.getElementById("filter");
    if (!box) return;
    var sections = Array.prototype.slice.call(document.querySelectorAll("section.cat"));
    var tabs = Array.prototype.slice.call(document.querySelectorAll(".tab"));
    var count = document.getElementById("filter-count");
    var none = document.getElementById("no-match");
    var category = "";
    function apply() {
      var q = box.value.trim().toLowerCase(), shown = 0;
      sections.forEach(function (sec) {
        var inCat = !category || sec.getAttribute("data-cat") === category, visible = 0;
        sec.querySelectorAll("tbody tr").forEach(function (tr) {
          var ok = inCat && (!q || tr.getAttribute("data-q").indexOf(q) !== -1);
          tr.hidden = !ok;
          if (ok) visible++;
        });
        sec.hidden = visible === 0;
        shown += visible;
      });
      none.hidden = shown !== 0;
      count.textContent = (q || category) ? shown + " shown" : "";
    }
    tabs.forEach(function (tab) {
      tab.addEventListener("click", function (ev) {
        ev.preventDefault();
        category = tab.getAttribute("data-cat");
        tabs.forEach(function (t) { t.setAttribute("aria-current", t === tab ? "true" : "false"); });
        history.replaceState(null, "", category ? "#cat-" + category : "#all");
        apply();
      });
    });
    box.addEventListener("input", apply);
    var m = /^#cat-(.+)$/.exec(location.hash);
    if (m) tabs.forEach(function (t) { if (t.getAttribute("data-cat") === m[1]) t.click(); });
  }

  /* Target page: embed code with absolute URLs of wherever the site is served from. */
  function setupEmbeds() {
    document.querySelectorAll("textarea[data-embed]").forEach(function (ta) {
      var badge = siteUrl(ta.getAttribute("data-badge")), page = siteUrl(ta.getAttribute("data-page"));
      var alt = "NetTrace latency";
      ta.value = ta.getAttribute("data-embed") === "md"
        ? "[![" + alt + "](" + badge + ")](" + page + ")"
        : '<a href="' + page + '"><img src="' + badge + '" alt="' + alt + '" height="20"></a>';
    });
  }

  /* Every page: a static page cannot know it is old, the browser can. */
  var OLD_AFTER_MS = 45 * 60 * 1000;  // three missed 15-minute rounds
  function warnIfOld() {
    var t = document.querySelector("footer time[datetime]");
    if (!t) return;
    var age = Date.now() - Date.parse(t.getAttribute("datetime"));
    if (!(age > OLD_AFTER_MS)) return;
    var div = document.createElement("div");
    div.className = "banner warn"; div.setAttribute("role", "status");
    var min = Math.round(age / 60000), hours = Math.round(min / 60);
    var ago = min < 120 ? min + " minutes" : hours < 48 ? hours + " hours" : Math.round(hours / 24) + " days";
    div.textContent = "This page was built " + ago + " ago: the figures may be stale.";
    document.querySelector("header.top").insertAdjacentElement("afterend", div);
  }

  document.addEventListener("DOMContentLoaded", function () {
    warnIfOld();
    setupBoard();
    setupEmbeds();
    if (document.getElementById("pg") && window.NetTracePlayground) window.NetTracePlayground(siteUrl);
  });
})();
