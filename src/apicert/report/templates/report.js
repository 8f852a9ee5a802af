(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("data").textContent);
  var ROWS = D.rows, PAGE = 300;
  var list = document.getElementById("list"), shown = document.getElementById("shown");
  var q = document.getElementById("q");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input[name=status]"));
  var chunks = {}, waiting = {}, limit = PAGE, matches = [];
  var index = {};
  for (var i = 0; i < ROWS.length; i++) index[ROWS[i][0]] = i;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return "&#" + c.charCodeAt(0) + ";";
    });
  }
  function haystack(r) {
    return (r[0] + " " + r[5] + " " + r[6] + " " + D.topics[r[2]] + " " + D.vendors[r[1]] + " " + D.sources[r[7]]).toLowerCase();
  }
  var hay = null;

  function filter() {
    var on = {};
    boxes.forEach(function (b) { if (b.checked) on[D.statuses.indexOf(b.value)] = true; });
    var terms = q.value.toLowerCase().split(/\s+/).filter(Boolean);
    if (terms.length && !hay) hay = ROWS.map(haystack);
    matches = [];
    for (var i = 0; i < ROWS.length; i++) {
      if (!on[ROWS[i][4]]) continue;
      var ok = true;
      for (var t = 0; t < terms.length && ok; t++) ok = hay[i].indexOf(terms[t]) >= 0;
      if (ok) matches.push(i);
    }
  }

  function rowHtml(i) {
    var r = ROWS[i], st = D.statuses[r[4]];
    var why = r[6] ? '<span class="why">' + esc(r[6]) + "</span>" : "";
    return '<div class="req s-' + st + '" data-id="' + esc(r[0]) + '" data-status="' + st + '">' +
      '<div class="line" role="button" tabindex="0" aria-expanded="false"><span class="rid">' + esc(r[0]) + "</span>" +
      '<span class="st">' + st + '</span><span class="lvl">' + esc(r[3]) + "</span>" +
      "<span>" + esc(r[5]) + why + "</span></div></div>";
  }

  function render() {
    var out = [], group = null, n = Math.min(limit, matches.length);
    for (var k = 0; k < n; k++) {
      var r = ROWS[matches[k]], g = r[1] + ":" + r[2];
      if (g !== group) {
        if (group !== null) out.push("</section>");
        out.push('<section class="group"><h3>' + esc(D.vendors[r[1]]) + " &middot; " + esc(D.topics[r[2]]) + "</h3>");
        group = g;
      }
      out.push(rowHtml(matches[k]));
    }
    if (group !== null) out.push("</section>");
    if (!matches.length) out.push("<p>No requirement matches the filters.</p>");
    if (matches.length > n) {
      out.push('<button class="more" type="button">Show ' + Math.min(PAGE, matches.length - n) +
        " more (" + (matches.length - n) + " not shown)</button>");
    }
    list.innerHTML = out.join("");
    shown.textContent = matches.length + " of " + ROWS.length + " requirements shown";
  }

  function update() { limit = PAGE; filter(); render(); }

  window.apicertEvidence = function (n, data) {
    chunks[n] = data;
    (waiting[n] || []).forEach(function (f) { f(); });
    delete waiting[n];
  };
  function loadChunk(n, done, fail) {
    if (chunks[n]) return done();
    if (waiting[n]) { waiting[n].push(done); return; }
    waiting[n] = [done];
    var s = document.createElement("script");
    s.src = "{{ evidence_dir }}/chunk-" + String(n).padStart(4, "0") + ".js";
    s.onerror = function () { delete waiting[n]; fail(s.src); };
    document.head.appendChild(s);
  }

  function pre(label, text) {
    return text ? "<div>" + esc(label) + "</div><pre>" + esc(text) + "</pre>" : "";
  }
  function headers(h) {
    return Object.keys(h || {}).map(function (k) { return k + ": " + h[k]; }).join("\n");
  }
  function detailHtml(r, d) {
    var out = [];
    out.push("<div><b>Source:</b> " + esc(D.sources[r[7]]) + (d.quote ? " &mdash; <q>" + esc(d.quote) + "</q>" : "") + "</div>");
    if (d.notes && d.notes.length) {
      out.push("<h4>Notes</h4>" + d.notes.map(function (n) { return "<div>" + esc(n) + "</div>"; }).join(""));
    }
    if (d.findings.length) {
      out.push("<h4>Findings (" + d.findings_total + ")</h4>");
      d.findings.forEach(function (f) {
        out.push('<div class="finding f-' + esc(f.status) + '"><b>' + esc(f.status) + ":</b> " + esc(f.message) +
          (f.evidence && f.evidence.length ? " <small>evidence: " + f.evidence.map(esc).join(", ") + "</small>" : "") +
          (f.id ? ' <small class="repro">repro: <code>apicert repro ' + esc(f.id) + "</code></small>" : "") + "</div>");
      });
    } else {
      out.push("<h4>Findings</h4><div>none</div>");
    }
    var ids = Object.keys(d.exchanges);
    if (ids.length) {
      out.push("<h4>Evidence: requests and responses (redacted)</h4>");
      ids.forEach(function (id) {
        var e = d.exchanges[id];
        out.push('<div class="exchange" data-exchange="' + esc(id) + '"><div class="head">' + esc(id) + ": " + esc(e.method) + " " + esc(e.url) +
          " &rarr; " + esc(e.status == null ? "no response" : e.status) + " in " + esc(e.elapsed == null ? "?" : (e.elapsed * 1000).toFixed(1)) + " ms</div>" +
          (e.error ? '<div class="error">' + esc(e.error) + "</div>" : "") +
          (e.test ? "<div><small>test: " + esc(e.test) + "</small></div>" : "") +
          pre("request headers", headers(e.request_headers)) + pre("request body", e.request_body) +
          pre("response headers", headers(e.response_headers)) + pre("response body" + (e.truncated ? " (truncated)" : ""), e.response_body) +
          "</div>");
      });
    }
    if (d.tests.length) {
      out.push("<h4>Tests</h4><ul>");
      d.tests.forEach(function (t) {
        out.push("<li><code>" + esc(t.nodeid) + "</code> " + esc(t.outcome) + " in " + esc(t.duration) + " s" + (t.reason ? ": " + esc(t.reason) : "") + "</li>");
      });
      out.push("</ul>");
    }
    var rp = d.reproduce || {};
    if (rp.command || (rp.curl && rp.curl.length)) {
      out.push("<h4>Reproduce</h4>");
      if (rp.command) out.push(pre("rerun the tests", rp.command));
      (rp.curl || []).forEach(function (c, k) { out.push(pre("repeat request " + (k + 1) + " with curl", c)); });
      if (rp.env && rp.env.length) out.push("<div><small>set first: " + rp.env.map(esc).join(", ") + "</small></div>");
    }
    return out.join("");
  }

  function toggle(el) {
    var line = el.querySelector(".line"), open = el.querySelector(".detail");
    if (open) { open.remove(); line.setAttribute("aria-expanded", "false"); return; }
    var r = ROWS[index[el.getAttribute("data-id")]];
    var box = document.createElement("div");
    box.className = "detail";
    box.textContent = "Loading evidence\u2026";
    el.appendChild(box);
    line.setAttribute("aria-expanded", "true");
    loadChunk(r[8], function () {
      box.innerHTML = detailHtml(r, chunks[r[8]][r[0]]);
    }, function (src) {
      box.innerHTML = '<span class="error">Evidence file missing: ' + esc(src) + " (keep the evidence folder beside this page)</span>";
    });
  }

  list.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t.classList && t.classList.contains("more")) { limit += PAGE; render(); return; }
    var line = t.closest && t.closest(".line");
    if (line) toggle(line.parentNode);
  });
  list.addEventListener("keydown", function (ev) {
    if ((ev.key === "Enter" || ev.key === " ") && ev.target.classList.contains("line")) {
      ev.preventDefault(); toggle(ev.target.parentNode);
    }
  });
  var timer = null;
  q.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(update, 120); });
  boxes.forEach(function (b) { b.addEventListener("change", update); });
  update();
  var hash = decodeURIComponent(location.hash.slice(1));
  if (hash && index[hash] !== undefined) {
    var el = list.querySelector('.req[data-id="' + hash.replace(/"/g, "") + '"]');
    if (el) { toggle(el); el.scrollIntoView(); }
  }
  document.body.setAttribute("data-ready", "1");
})();
