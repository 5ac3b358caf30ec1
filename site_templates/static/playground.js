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
  function paramList(ep) {
    var inPath = placeholders(pathOf(ep)), listed = (ep.params || ep.parameters || []).map(function (p) {
      return typeof p === "string" ? { name: p } : p;
    });
    inPath.forEach(function (name) {
      if (!listed.some(function (p) { return p.name === name; })) listed.unshift({ name: name });
    });
    return listed.map(function (p) {
      return { name: p.name, where: inPath.indexOf(p.name) === -1 ? "query" : "path", hint: p.description || "" };
    });
  }
  function quote(s) { return "'" + s.replace(/'/g, "'\\''") + "'"; }

  function showParams() {
    var ep = endpoints[select.value];
    params.textContent = "";
    $("pg-doc").textContent = [ep.tier ? "tier: " + ep.tier : "", ep.description || ep.summary || ""].filter(Boolean).join(" · ");
    paramList(ep).forEach(function (p) {
      var div = document.createElement("div"), label = document.createElement("label"), input = document.createElement("input");
      div.className = "field";
      input.id = "pg-p-" + p.name; input.name = p.name; input.value = defaults[p.name] || "";
      input.placeholder = p.hint; input.setAttribute("data-in", p.where);
      label.htmlFor = input.id; label.textContent = p.name + (p.where === "query" ? " (query, optional)" : "");
      div.appendChild(label); div.appendChild(input); params.appendChild(div);
    });
    var proxy = (ep.served_by || "cdn") !== "cdn";
    form.querySelector("input[name=pg-base][value=" + (proxy ? "proxy" : "cdn") + "]").checked = true;
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
    // The keyed API defaults to the origin serving this page (the proxy serves the site too).
    return proxy ? new URL(path, (base || siteUrl("")).replace(/\/?$/, "/")).href : siteUrl(path);
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
    var targets = docs[1].targets || [], cats = docs[1].categories || [], regions = docs[1].regions || [];
    if (targets.length) defaults.host = targets[0].host;
    defaults.targets = targets.slice(0, 2).map(function (t) { return t.host; }).join(",");
    if (cats.length) defaults.slug = defaults.category = cats[0].slug;
    if (regions.length) defaults.region = regions[0].code;
    defaults.hours = "24";
    endpoints.forEach(function (ep, i) {
      var o = document.createElement("option");
      o.value = i;
      o.textContent = pathOf(ep) + " [" + [ep.tier, ep.served_by === "proxy" ? "key" : ""].filter(Boolean).join(", ") + "]";
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
