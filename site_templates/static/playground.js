/* NetTrace API playground: endpoints come from api/v1/index.json; no framework. */
window.NetTracePlayground = function (siteUrl) {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var form = $("pg"), select = $("pg-endpoint"), params = $("pg-params"), endpoints = [], defaults = {};

  function endpointsOf(doc) {
    var e = doc.endpoints || doc.paths || [];
    if (!Array.isArray(e)) e = Object.keys(e).map(function (k) { return Object.assign({ path: k }, e[k]); });
    return e.filter(function (x) { return x && (x.path || x.url); });
  }
  function pathOf(ep) { return String(ep.path || ep.url).replace(/^\/+/, ""); }
  function placeholders(path) { return (path.match(/\{[^}]+\}/g) || []).map(function (p) { return p.slice(1, -1); }); }
  function queryParams(ep) {
    return (ep.params || ep.parameters || []).map(function (p) { return typeof p === "string" ? p : p.name; })
      .filter(function (n) { return n && placeholders(pathOf(ep)).indexOf(n) === -1; });
  }
  function quote(s) { return "'" + s.replace(/'/g, "'\\''") + "'"; }

  function showParams() {
    var ep = endpoints[select.value];
    params.textContent = "";
    $("pg-doc").textContent = [ep.tier ? "tier: " + ep.tier : "", ep.description || ep.summary || ""].filter(Boolean).join(" · ");
    placeholders(pathOf(ep)).concat(queryParams(ep)).forEach(function (name) {
      var div = document.createElement("div"), label = document.createElement("label"), input = document.createElement("input");
      div.className = "field";
      input.id = "pg-p-" + name; input.name = name; input.value = defaults[name] || "";
      input.setAttribute("data-in", placeholders(pathOf(ep)).indexOf(name) === -1 ? "query" : "path");
      label.htmlFor = input.id; label.textContent = name;
      div.appendChild(label); div.appendChild(input); params.appendChild(div);
    });
    updateCurl();
  }

  function requestUrl() {
    var path = pathOf(endpoints[select.value]), query = [];
    params.querySelectorAll("input").forEach(function (input) {
      if (input.getAttribute("data-in") === "path") path = path.split("{" + input.name + "}").join(encodeURIComponent(input.value));
      else if (input.value) query.push(encodeURIComponent(input.name) + "=" + encodeURIComponent(input.value));
    });
    if (query.length) path += "?" + query.join("&");
    var proxy = form.querySelector("input[name=pg-base]:checked").value === "proxy";
    var base = $("pg-proxy").value.trim();
    return proxy && base ? new URL(path, base.replace(/\/?$/, "/")).href : siteUrl(path);
  }
  function headers() { var k = $("pg-key").value.trim(); return k ? { Authorization: "Bearer " + k } : {}; }
  function updateCurl() {
    var h = headers(), line = "curl -sS -i";
    Object.keys(h).forEach(function (k) { line += " -H " + quote(k + ": " + h[k]); });
    $("pg-curl").value = line + " " + quote(requestUrl());
  }

  function send(ev) {
    ev.preventDefault();
    var out = $("pg-out"), status = $("pg-status"), body = $("pg-body");
    out.hidden = false; status.textContent = "…"; status.className = "status"; body.textContent = "";
    fetch(requestUrl(), { headers: headers() }).then(function (res) {
      status.textContent = res.status + " " + res.statusText;
      status.className = "status " + (res.ok ? "ok" : "err");
      var lines = [];
      res.headers.forEach(function (v, k) { lines.push(k + ": " + v); });
      $("pg-headers").textContent = lines.join("\n");
      return res.text();
    }).then(function (text) {
      try { body.textContent = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { body.textContent = text; }
    }).catch(function (err) {
      status.textContent = "request failed"; status.className = "status err"; body.textContent = String(err);
    });
  }

  function getJson(path) { return fetch(siteUrl(path)).then(function (r) { return r.ok ? r.json() : {}; }); }
  Promise.all([getJson("api/v1/index.json"), getJson("api/v1/targets.json")]).then(function (docs) {
    endpoints = endpointsOf(docs[0]);
    var targets = docs[1].targets || [];
    if (targets.length) {
      defaults.host = targets[0].host;
      defaults.region = (targets[0].regions || [])[0] || "fra";
      var slug = targets[0].category_slug || targets[0].category;
      if (slug) { defaults["category-slug"] = slug; defaults.category = slug; defaults.slug = slug; }
    }
    endpoints.forEach(function (ep, i) {
      var o = document.createElement("option");
      o.value = i; o.textContent = pathOf(ep) + (ep.tier ? "  [" + ep.tier + "]" : "");
      select.appendChild(o);
    });
    var t = endpoints.findIndex(function (ep) { return /targets\.json$/.test(pathOf(ep)); });
    select.value = String(t < 0 ? 0 : t);
    form.hidden = false;
    showParams();
  });
  select.addEventListener("change", showParams);
  form.addEventListener("input", function (ev) { if (ev.target !== select) updateCurl(); });
  form.addEventListener("submit", send);
};
