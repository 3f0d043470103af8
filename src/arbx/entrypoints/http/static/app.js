/* arbx web UI: plain JavaScript over the arbx API (same origin, same auth).
   Signed in with the API's JWT flow: the access and refresh tokens live in this tab's
   sessionStorage; the password is sent once to /api/v1/auth/login and never kept.
   Every text from the API is put in the page as text (never as HTML). */
(function () {
  "use strict";

  var TOKENS = "arbx.tokens";
  var state = { tokens: null, me: null, gen: 0 };
  var main = document.getElementById("main");

  // -- helpers ------------------------------------------------------------------------------

  function h(tag, attrs) {
    var el = document.createElement(tag);
    var rest = Array.prototype.slice.call(arguments, 2);
    Object.keys(attrs || {}).forEach(function (k) {
      var v = attrs[k];
      if (v === null || v === undefined || v === false) { return; }
      if (k.slice(0, 2) === "on") { el.addEventListener(k.slice(2), v); } else if (k === "text") { el.textContent = v; } else { el.setAttribute(k, v === true ? "" : v); }
    });
    rest.forEach(function (c) { append(el, c); });
    return el;
  }

  function append(el) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) { continue; }
      if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); continue; }
      el.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
  }

  function show() {
    main.innerHTML = "";
    append(main, Array.prototype.slice.call(arguments));
  }

  function can(permission) {
    return !!(state.me && state.me.permissions.indexOf(permission) >= 0);
  }

  function pct(v) { return v === null || v === undefined ? "-" : (v * 100).toFixed(2) + "%"; }
  function num(v, d) { return v === null || v === undefined ? "-" : Number(v).toFixed(d === undefined ? 3 : d); }
  function when(iso) { return iso ? iso.replace("T", " ").slice(0, 16) : "-"; }

  function table(columns, rows, opts) {
    opts = opts || {};
    return h("div", { "class": "scroll" },
      h("table", { "class": "data", id: opts.id, "aria-label": opts.label },
        h("thead", {}, h("tr", {}, columns.map(function (c) { return h("th", { scope: "col" }, c); }))),
        h("tbody", {}, rows.map(function (r) {
          return h("tr", {}, r.map(function (cell, i) {
            var numeric = opts.numeric && opts.numeric[i];
            return h("td", { "class": numeric ? "num" : null }, cell);
          }));
        }))));
  }

  function problemText(res) {
    var b = res.body || {};
    return (b.title ? b.title + ": " : "") + (b.detail || ("HTTP " + res.status));
  }

  function forbidden(detail) {
    show(h("section", { "class": "forbidden", role: "alert", id: "forbidden" },
      h("h1", {}, "403 — not allowed"),
      h("p", {}, detail || "Your role does not allow this page."),
      h("p", {}, h("a", { href: "#/" }, "Back to the start page"))));
  }

  // -- the API --------------------------------------------------------------------------------

  function saveTokens(t) {
    state.tokens = t;
    if (t) { sessionStorage.setItem(TOKENS, JSON.stringify({ access: t.access, refresh: t.refresh })); } else { sessionStorage.removeItem(TOKENS); }
  }

  function request(method, path, body, accept) {
    var headers = { Accept: accept || "application/json" };
    if (state.tokens) { headers.Authorization = "Bearer " + state.tokens.access; }
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (res) {
        var type = res.headers.get("content-type") || "";
        var read = type.indexOf("json") >= 0 ? res.json() : res.text();
        return read.then(function (data) { return { status: res.status, ok: res.ok, body: data, headers: res.headers }; });
      });
  }

  function api(method, path, body, accept) {
    // an answer that arrives after the user went to another page is dropped (never resolves)
    var gen = state.gen;
    return authorized(method, path, body, accept).then(function (res) {
      return gen === state.gen ? res : new Promise(function () {});
    });
  }

  function authorized(method, path, body, accept) {
    return request(method, path, body, accept).then(function (res) {
      if (res.status !== 401 || !state.tokens) { return res; }
      return request("POST", "/api/v1/auth/refresh", { refresh_token: state.tokens.refresh }).then(function (r) {
        if (!r.ok) { saveTokens(null); state.me = null; location.hash = "#/signin"; return res; }
        saveTokens({ access: r.body.access_token, refresh: r.body.refresh_token });
        return request(method, path, body, accept);
      });
    });
  }

  // -- sign in / out ------------------------------------------------------------------------

  function signInPage() {
    var error = h("p", { "class": "error", role: "alert", id: "signin-error" });
    var user = h("input", { type: "text", id: "username", name: "username", autocomplete: "username", required: true });
    var pass = h("input", { type: "password", id: "password", name: "password", autocomplete: "current-password", required: true });
    var form = h("form", { "class": "grid", id: "signin", onsubmit: function (ev) {
      ev.preventDefault();
      error.textContent = "";
      request("POST", "/api/v1/auth/login", { username: user.value, password: pass.value }).then(function (res) {
        pass.value = "";
        if (!res.ok) { error.textContent = problemText(res); return; }
        saveTokens({ access: res.body.access_token, refresh: res.body.refresh_token });
        return loadMe().then(function () { go("#/"); });
      });
    } },
      h("label", { "for": "username" }, "User name"), user,
      h("label", { "for": "password" }, "Password"), pass,
      h("span"), h("div", {}, h("button", { type: "submit" }, "Sign in")));
    show(h("h1", {}, "Sign in to arbx"), form, error);
    user.focus();
  }

  function signOut() {
    var t = state.tokens;
    saveTokens(null);
    state.me = null;
    var done = function () { go("#/signin"); };
    if (t) { request("POST", "/api/v1/auth/logout", { refresh_token: t.refresh }).then(done, done); } else { done(); }
  }

  function loadMe() {
    return api("GET", "/api/v1/auth/me").then(function (res) {
      state.me = res.ok ? res.body : null;
      if (!res.ok) { saveTokens(null); }
      return state.me;
    });
  }

  // -- navigation ---------------------------------------------------------------------------

  // the helpers the other page scripts (research.js) build on
  var ui = {
    h: h, append: append, show: show, can: can, api: api, table: table, when: when, num: num, pct: pct,
    problemText: problemText, forbidden: forbidden, paramInput: paramInput, seriesName: seriesName
  };
  var research = window.arbxResearchPages ? window.arbxResearchPages(ui) : {};

  var PAGES = [
    { path: "series", label: "Series", permission: "data:read", render: seriesPage },
    { path: "quality", label: "Data quality", permission: "quality:read", render: qualityPage },
    { path: "backtests", label: "Backtests", permission: "results:read", render: backtestsPage },
    research.optimizations,
    research.walkForwards,
    { path: "jobs", label: "Jobs", permission: "jobs:read", render: jobsPage },
    research.alerts,
    { path: "admin", label: "Admin", permission: "users:manage", render: adminPage }
  ].filter(Boolean);

  function drawNav(current) {
    var nav = document.getElementById("nav");
    nav.innerHTML = "";
    var who = document.getElementById("who");
    who.innerHTML = "";
    if (!state.me) { return; }
    PAGES.forEach(function (p) {
      if (!can(p.permission)) { return; }
      append(nav, h("a", { href: "#/" + p.path, "aria-current": current === p.path ? "page" : null }, p.label));
    });
    append(nav, h("a", { href: "/schema/swagger" }, "API docs"));
    append(who, h("span", { id: "whoami" }, state.me.username + " (" + state.me.roles.join(", ") + ")"));
    append(who, h("button", { "class": "secondary", type: "button", id: "signout", onclick: signOut }, "Sign out"));
  }

  function go(hash) {
    if (location.hash === hash) { route(); } else { location.hash = hash; }
  }

  function route() {
    state.gen += 1;
    var hash = location.hash.replace(/^#\/?/, "");
    var parts = hash.split("?")[0].split("/");
    var query = new URLSearchParams(hash.split("?")[1] || "");
    if (!state.me) { drawNav(null); signInPage(); return; }
    var page = PAGES.filter(function (p) { return p.path === parts[0]; })[0];
    if (!page) {
      page = PAGES.filter(function (p) { return can(p.permission); })[0];
      if (!page) { drawNav(null); show(h("h1", {}, "Nothing to show for your role")); return; }
    }
    drawNav(page.path);
    if (!can(page.permission)) { forbidden("Your role (" + state.me.roles.join(", ") + ") lacks " + page.permission + " for " + page.label + "."); return; }
    page.render(parts.slice(1), query);
    main.focus();
  }

  // -- series -------------------------------------------------------------------------------

  var TF_MS = { "1m": 60e3, "5m": 300e3, "15m": 900e3, "30m": 1800e3, "1h": 3600e3, "4h": 14400e3, "1d": 86400e3 };

  function seriesName(s) { return s.exchange + ":" + s.symbol + ":" + s.timeframe; }

  function seriesPage(parts, query) {
    var chartBox = h("div", { id: "series-chart" });
    show(h("h1", {}, "Series"), h("p", { "class": "muted", id: "series-status" }, "Loading series…"), h("div", { id: "series-list" }), chartBox);
    api("GET", "/api/v1/series").then(function (res) {
      var status = document.getElementById("series-status");
      if (res.status === 403) { forbidden(problemText(res)); return; }
      if (!res.ok) { status.textContent = problemText(res); return; }
      var list = res.body.series;
      status.textContent = list.length ? list.length + " series stored. Coverage per venue:" : "No series stored yet (arbx data load-samples).";
      var rows = list.map(function (s) {
        return [s.exchange, s.symbol, s.timeframe, when(s.first_ts), when(s.last_ts), s.rows.toLocaleString(),
          h("button", { type: "button", "class": "secondary", "data-series": seriesName(s), onclick: function () { location.hash = "#/series/" + encodeURIComponent(seriesName(s)); } }, "Chart")];
      });
      document.getElementById("series-list").appendChild(table(["exchange", "symbol", "timeframe", "first bar", "last bar", "bars", ""], rows, { id: "series-table", label: "stored series", numeric: [0, 0, 0, 0, 0, 1, 0] }));
      var wanted = parts[0] ? decodeURIComponent(parts[0]) : null;
      var chosen = list.filter(function (s) { return seriesName(s) === wanted; })[0];
      if (chosen) { seriesChart(chosen, chartBox); }
    });
  }

  function loadBars(s, start, end) {
    var q = new URLSearchParams({ exchange: s.exchange, symbol: s.symbol, timeframe: s.timeframe, start: start, end: end });
    return api("GET", "/api/v1/bars?" + q.toString()).then(function (res) {
      if (!res.ok) { throw new Error(problemText(res)); }
      return loadMore(s, res, end, res.body.bars, 0);
    });
  }

  function loadMore(s, res, end, acc, pages) {
    if (!res.body.next_cursor || pages >= 50) { return acc; }
    var q = new URLSearchParams({ exchange: s.exchange, symbol: s.symbol, timeframe: s.timeframe, cursor: res.body.next_cursor, end: end });
    return api("GET", "/api/v1/bars?" + q.toString()).then(function (r) {
      if (!r.ok) { throw new Error(problemText(r)); }
      return loadMore(s, r, end, acc.concat(r.body.bars), pages + 1);
    });
  }

  function seriesChart(s, box) {
    box.innerHTML = "";
    var name = seriesName(s);
    append(box, h("h2", {}, "Candles: " + name), h("p", { "class": "muted", id: "chart-status" }, "Loading bars…"));
    var end = new Date(Date.parse(s.last_ts) + (TF_MS[s.timeframe] || 60e3)).toISOString();
    var q = new URLSearchParams({ exchange: s.exchange, symbol: s.symbol, timeframe: s.timeframe, start: s.first_ts, end: end, limit: "200" });
    var issues = can("quality:read") ? api("GET", "/api/v1/quality/issues?" + q.toString()) : Promise.resolve(null);
    Promise.all([loadBars(s, s.first_ts, end), issues]).then(function (got) {
      var bars = got[0], found = got[1];
      var step = TF_MS[s.timeframe] || 60e3;
      var x = [], o = [], hi = [], lo = [], c = [], bands = [];
      var index = {};
      bars.forEach(function (b, i) {
        var t = Date.parse(b.ts);
        if (i > 0) {
          var prev = Date.parse(bars[i - 1].ts);
          if (t - prev > step) { bands.push({ start: (prev + step) / 1000, end: t / 1000, label: "gap" }); }
        }
        index[t] = x.length;
        x.push(t / 1000); o.push(b.open); hi.push(b.high); lo.push(b.low); c.push(b.close);
      });
      var marks = x.map(function () { return null; });
      var issueCount = 0;
      if (found && found.ok) {
        found.body.issues.forEach(function (f) {
          var at = index[Date.parse(f.ts)];
          if (at !== undefined) { marks[at] = hi[at]; issueCount += 1; }
        });
      }
      var status = document.getElementById("chart-status");
      status.textContent = bars.length.toLocaleString() + " bars, " + bands.length + " gaps (shaded), " + issueCount + " quality findings marked";
      var el = h("div", { "class": "arbx-chart", id: "candles", role: "img", "aria-label": "candle chart of " + name });
      box.appendChild(el);
      window.arbxCharts.draw(el, {
        x: x, y_label: s.symbol.split("/")[1] || "", bands: bands, height: 420,
        candles: { open: o, high: hi, low: lo, close: c },
        traces: [
          { label: "close", values: c, style: "line", color: "rgba(31,119,180,0.25)" },
          { label: "high", values: hi, style: "line", color: "rgba(0,0,0,0)" },
          { label: "low", values: lo, style: "line", color: "rgba(0,0,0,0)" },
          { label: "quality finding", values: marks, style: "points", color: "#ff7f0e" }
        ]
      });
      box.setAttribute("data-drawn", "1");
    }).catch(function (err) { document.getElementById("chart-status").textContent = String(err.message || err); });
  }

  // -- data quality -------------------------------------------------------------------------

  function qualityPage() {
    show(h("h1", {}, "Data quality"), h("p", { "class": "muted", id: "quality-status" }, "Scoring each series…"), h("div", { id: "quality-list" }), h("div", { id: "repair-result" }));
    api("GET", "/api/v1/series").then(function (res) {
      if (!res.ok) { document.getElementById("quality-status").textContent = problemText(res); return; }
      var list = res.body.series;
      return Promise.all(list.map(function (s) {
        var q = new URLSearchParams({ exchange: s.exchange, symbol: s.symbol, timeframe: s.timeframe });
        return api("GET", "/api/v1/quality?" + q.toString()).then(function (r) { return [s, r]; });
      })).then(function (scored) {
        document.getElementById("quality-status").textContent = "Scores over each series' stored span (1 = every expected bar present and clean).";
        var rows = scored.map(function (pair) {
          var s = pair[0], r = pair[1];
          if (!r.ok) { return [seriesName(s), problemText(r), "", "", "", ""]; }
          var b = r.body;
          var actions = can("quality:repair") ? h("button", { type: "button", "class": "secondary", onclick: function () { repair(s, true); } }, "Repair: dry run") : "";
          return [seriesName(s), num(b.score.score), pct(b.score.coverage), String(b.gaps.count), String(b.gaps.bars_missing), String((b.gaps.by_status || {}).open || 0), actions];
        });
        document.getElementById("quality-list").appendChild(table(["series", "score", "coverage", "gaps", "bars missing", "open gaps", ""], rows, { id: "quality-table", label: "quality per series", numeric: [0, 1, 1, 1, 1, 1, 0] }));
      });
    });
  }

  function repair(s, dryRun) {
    var box = document.getElementById("repair-result");
    box.innerHTML = "";
    append(box, h("p", { "class": "muted" }, (dryRun ? "Dry run" : "Repair") + " of " + seriesName(s) + " (forward fill, flagged)…"));
    api("POST", "/api/v1/gaps/repair", { exchange: s.exchange, symbol: s.symbol, timeframe: s.timeframe, policy: "ffill", dry_run: dryRun }).then(function (res) {
      box.innerHTML = "";
      if (!res.ok) { append(box, h("p", { "class": "error", role: "alert" }, problemText(res))); return; }
      var b = res.body;
      append(box, h("div", { "class": "card", id: "repair-card" },
        h("h2", {}, (b.dry_run ? "Dry run: " : "Repaired: ") + b.series),
        h("p", {}, b.filled_bars + " bars would be filled, " + b.unfilled_bars + " left; " + b.written + " written."),
        b.dry_run && b.filled_bars > 0 ? h("button", { type: "button", onclick: function () { repair(s, false); } }, "Apply this repair") : null));
    });
  }

  // -- backtests ------------------------------------------------------------------------------

  function backtestsPage(parts, query) {
    if (parts[0] === "new") { return newBacktestPage(); }
    if (parts[0] === "compare") { return reportView("/api/v1/reports/compare?ids=" + encodeURIComponent(query.get("ids") || ""), "Comparison", "comparison.html"); }
    if (parts[0]) { return reportView("/api/v1/backtests/" + encodeURIComponent(parts[0]) + "/report", "Report of run " + parts[0], "backtest-" + parts[0] + ".html", parts[0]); }
    var FILTERS = ["strategy", "status", "venue", "series", "start", "end", "sort", "order"];
    var PAGE = 50;
    var offset = Math.max(0, Number(query.get("offset") || 0) || 0);
    function wanted(name) { return query.get(name) || ""; }
    function filterField(label, name, input) {
      return h("div", { "class": "field" }, h("label", { "for": name + "-filter" }, label), input,
        h("span", { "class": "field-error", "data-error-for": name, role: "alert" }));
    }
    function opts(values, current) {
      return values.map(function (v) { return h("option", { value: v[0], selected: v[0] === current }, v[1]); });
    }
    var filter = h("select", { id: "strategy-filter", name: "strategy" }, h("option", { value: "" }, "all strategies"));
    var status = h("select", { id: "status-filter", name: "status" }, opts([["", "any"], ["done", "done"], ["running", "running"], ["pending", "pending"], ["failed", "failed"]], wanted("status")));
    var venue = h("input", { type: "text", id: "venue-filter", name: "venue", list: "known-venues", value: wanted("venue"), placeholder: "e.g. kraken" });
    var series = h("input", { type: "text", id: "series-filter", name: "series", list: "filter-series", value: wanted("series"), placeholder: "exchange:BASE/QUOTE:tf" });
    var from = h("input", { type: "text", id: "start-filter", name: "start", value: wanted("start"), placeholder: "YYYY-MM-DD" });
    var to = h("input", { type: "text", id: "end-filter", name: "end", value: wanted("end"), placeholder: "YYYY-MM-DD" });
    var sort = h("select", { id: "sort-filter", name: "sort" }, opts([["", "newest first"], ["total_return", "total return"], ["sharpe", "Sharpe"], ["sortino", "Sortino"],
      ["calmar", "Calmar"], ["cagr", "CAGR"], ["max_drawdown", "max drawdown"], ["win_rate", "win rate"], ["profit_factor", "profit factor"],
      ["trade_count", "trades"], ["final_equity", "final equity"], ["excess_return", "excess return"], ["created_at", "created"]], wanted("sort")));
    var order = h("select", { id: "order-filter", name: "order" }, opts([["", "high to low"], ["asc", "low to high"]], wanted("order")));
    var inputs = { strategy: filter, status: status, venue: venue, series: series, start: from, end: to, sort: sort, order: order };
    function hashWith(extra) {
      var q = new URLSearchParams();
      FILTERS.forEach(function (name) { var v = inputs[name].value.trim(); if (v) { q.set(name, v); } });
      Object.keys(extra || {}).forEach(function (k) { if (extra[k]) { q.set(k, String(extra[k])); } });
      var text = q.toString();
      return "#/backtests" + (text ? "?" + text : "");
    }
    var filters = h("form", { "class": "filters", id: "backtest-filters", onsubmit: function (ev) { ev.preventDefault(); location.hash = hashWith(); } },
      h("datalist", { id: "known-venues" }), h("datalist", { id: "filter-series" }),
      filterField("Strategy", "strategy", filter), filterField("Status", "status", status),
      filterField("Venue", "venue", venue), filterField("Series", "series", series),
      filterField("Span from (UTC)", "start", from), filterField("Span to (UTC)", "end", to),
      filterField("Sort by", "sort", sort), filterField("Order", "order", order),
      h("div", { "class": "field" }, h("button", { type: "submit", id: "apply-filters" }, "Apply filters")),
      h("span", { "class": "field-error", "data-error-for": "offset", role: "alert" }),
      h("span", { "class": "field-error", "data-error-for": "limit", role: "alert" }));
    var compare = h("button", { type: "button", id: "compare", disabled: true, onclick: function () {
      var ids = Array.prototype.map.call(document.querySelectorAll("input[data-run]:checked"), function (c) { return c.getAttribute("data-run"); });
      location.hash = "#/backtests/compare?ids=" + ids.join(",");
    } }, "Compare selected");
    show(h("h1", {}, "Backtests"), filters,
      h("div", { "class": "toolbar" }, compare,
        can("backtests:run") ? h("a", { href: "#/backtests/new", id: "new-backtest" }, "New backtest") : null),
      h("div", { id: "runs" }, h("p", { "class": "muted" }, "Loading runs…")));
    api("GET", "/api/v1/strategies").then(function (res) {
      if (!res.ok) { return; }
      res.body.strategies.forEach(function (s) { filter.appendChild(h("option", { value: s.name, selected: s.name === wanted("strategy") }, s.name)); });
    });
    if (can("data:read")) {
      api("GET", "/api/v1/series").then(function (res) {
        if (!res.ok) { return; }
        var venues = {};
        res.body.series.forEach(function (s) {
          venues[s.exchange] = true;
          document.getElementById("filter-series").appendChild(h("option", { value: seriesName(s) }));
        });
        Object.keys(venues).sort().forEach(function (v) { document.getElementById("known-venues").appendChild(h("option", { value: v })); });
      });
    }
    var params = new URLSearchParams();
    FILTERS.forEach(function (name) { if (wanted(name)) { params.set(name, wanted(name)); } });
    params.set("limit", String(PAGE));
    if (offset) { params.set("offset", String(offset)); }
    api("GET", "/api/v1/backtests?" + params.toString()).then(function (res) {
      var box = document.getElementById("runs");
      box.innerHTML = "";
      if (res.status === 422 || res.status === 400) {
        var field = res.body && res.body.field;
        var slot = field ? filters.querySelector('[data-error-for="' + field + '"]') : null;
        if (slot) { slot.textContent = res.body.detail || problemText(res); }
        append(box, h("p", { "class": "error", id: "filter-error", role: "alert" }, problemText(res)));
        return;
      }
      if (!res.ok) { append(box, h("p", { "class": "error" }, problemText(res))); return; }
      var runs = res.body.backtests;
      var failed = res.body.failed || [];
      if (!runs.length && !res.body.in_flight.length && !failed.length) { append(box, h("p", { "class": "muted", id: "no-runs" }, "No runs match.")); return; }
      function changed() { compare.disabled = document.querySelectorAll("input[data-run]:checked").length < 2; }
      var rows = runs.map(function (r) {
        return [h("input", { type: "checkbox", "data-run": r.id, "aria-label": "select run " + r.id, onchange: changed }),
          h("a", { href: "#/backtests/" + r.id }, r.id.slice(0, 12)), when(r.created_at), r.strategy,
          Object.keys(r.params || {}).map(function (k) { return k + "=" + r.params[k]; }).join(", "), r.series.join(", "),
          when(r.span_start) + " .. " + when(r.span_end), pct(r.total_return), num(r.sharpe), pct(r.max_drawdown), String(r.trade_count)];
      });
      res.body.in_flight.forEach(function (r) { rows.unshift(["", h("a", { href: "#/backtests/" + r.id }, r.id.slice(0, 12)), when(r.created_at), r.strategy, r.status, "", "", "", "", "", ""]); });
      failed.forEach(function (r) { rows.push(["", r.id.slice(0, 12), when(r.created_at), "", "failed: " + (r.error || ""), "", "", "", "", "", ""]); });
      append(box, table(["", "run", "created (UTC)", "strategy", "params", "series", "span", "return", "Sharpe", "max dd", "trades"], rows, { id: "runs-table", label: "backtest runs", numeric: [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1] }));
      var next = res.body.next_offset;
      if (offset > 0 || next !== null) {
        append(box, h("nav", { "class": "pager", "aria-label": "pages of runs" },
          offset > 0 ? h("a", { href: hashWith({ offset: Math.max(0, offset - PAGE) }), id: "prev-page" }, "Previous") : null,
          h("span", { "class": "muted" }, "runs " + (offset + 1) + "–" + (offset + runs.length + failed.length)),
          next !== null ? h("a", { href: hashWith({ offset: next }), id: "next-page" }, "Next") : null));
      }
    });
  }

  function reportView(path, title, filename, runId) {
    var status = h("p", { "class": "muted", id: "report-status", role: "status" }, "Loading the report…");
    var frame = h("iframe", { "class": "report", id: "report-frame", title: title, sandbox: "allow-scripts" });
    var download = h("button", { type: "button", "class": "secondary", id: "download", disabled: true }, "Download HTML");
    show(h("h1", {}, title), h("div", { "class": "toolbar" }, h("a", { href: "#/backtests" }, "All backtests"), download), status, frame);
    function load(tries) {
      api("GET", path, undefined, "text/html").then(function (res) {
        if (res.status === 409 && tries < 600) {
          var st = (res.body.errors || [{}])[0].run_status || "computing";
          if (st === "failed" || st === "cancelled") { status.textContent = problemText(res); status.className = "error"; return; }
          status.textContent = "The run is " + st + "; the report follows when it is done…";
          setTimeout(function () { load(tries + 1); }, 1000);
          return;
        }
        if (res.status === 403) { forbidden(problemText(res)); return; }
        if (!res.ok) { status.textContent = problemText(res); status.className = "error"; return; }
        status.textContent = "";
        frame.srcdoc = res.body;
        download.disabled = false;
        download.onclick = function () {
          var a = h("a", { href: URL.createObjectURL(new Blob([res.body], { type: "text/html" })), download: filename });
          document.body.appendChild(a); a.click(); a.remove();
        };
      });
    }
    // a run still computing: poll its status (200s), then fetch the report once it is done
    function wait(tries) {
      api("GET", "/api/v1/backtests/" + encodeURIComponent(runId)).then(function (res) {
        if (res.status === 403) { forbidden(problemText(res)); return; }
        if (!res.ok) { status.textContent = problemText(res); status.className = "error"; return; }
        if (res.body.status === "failed") { status.textContent = "The run failed: " + (res.body.error || "no error recorded"); status.className = "error"; return; }
        if (res.body.status === "cancelled") { status.textContent = "The run was " + (res.body.error || "cancelled"); status.className = "error"; return; }
        if (res.body.status !== "done" && tries < 3600) {
          status.textContent = "The run is " + res.body.status + " (" + (res.body.bars || 0).toLocaleString() + " bars); the report follows when it is done…";
          setTimeout(function () { wait(tries + 1); }, 1000);
          return;
        }
        load(0);
      });
    }
    if (runId) { wait(0); } else { load(0); }
  }

  function paramInput(name, schema, value) {
    var id = "param-" + name;
    var type = schema.type;
    if (Array.isArray(type)) { type = type.filter(function (t) { return t !== "null"; })[0]; }
    var input;
    if (schema["enum"]) {
      input = h("select", { id: id, name: name }, schema["enum"].map(function (v) { return h("option", { value: v, selected: v === value }, String(v)); }));
    } else if (type === "boolean") {
      input = h("input", { type: "checkbox", id: id, name: name, checked: !!value });
    } else if (type === "integer" || type === "number") {
      input = h("input", { type: "number", id: id, name: name, step: type === "integer" ? "1" : "any", value: value === null || value === undefined ? "" : String(value) });
    } else {
      input = h("input", { type: "text", id: id, name: name, value: value === null || value === undefined ? "" : String(value) });
    }
    input.setAttribute("data-kind", type || "string");
    return input;
  }

  function fieldRow(label, id, input, fieldName, hint) {
    return [h("label", { "for": id }, label),
      h("div", { "class": "field" }, input, hint ? h("span", { "class": "muted" }, hint) : null,
        h("span", { "class": "field-error", "data-error-for": fieldName, id: "error-" + fieldName.replace(/\W/g, "-"), role: "alert" }))];
  }

  function newBacktestPage() {
    if (!can("backtests:run")) { forbidden("Your role cannot run backtests."); return; }
    var form = h("form", { "class": "grid", id: "backtest-form", novalidate: true });
    var general = h("p", { "class": "error", id: "form-error", role: "alert" });
    show(h("h1", {}, "New backtest"), form, general);
    Promise.all([api("GET", "/api/v1/strategies"), api("GET", "/api/v1/series")]).then(function (got) {
      if (!got[0].ok) { general.textContent = problemText(got[0]); return; }
      var strategies = got[0].body.strategies;
      var known = got[1].ok ? got[1].body.series : [];
      var list = h("datalist", { id: "known-series" }, known.map(function (s) { return h("option", { value: seriesName(s) }); }));
      var select = h("select", { id: "strategy", name: "strategy" }, strategies.map(function (s) { return h("option", { value: s.name }, s.name + " (" + s.kind + ")"); }));
      var paramsBox = h("div", { id: "params", "class": "field" });
      var seriesBox = h("textarea", { id: "series", name: "series", rows: "2", placeholder: "exchange:BASE/QUOTE:tf, one per line", list: "known-series" });
      var conversions = h("textarea", { id: "conversions", name: "conversions", rows: "2", placeholder: "TRADED=CONVERSION, one per line (arbitrage across quotes)" });
      var first = known[0];
      var start = h("input", { type: "text", id: "start", name: "start", value: first ? first.first_ts.slice(0, 10) : "" });
      var end = h("input", { type: "text", id: "end", name: "end", value: first ? new Date(Date.parse(first.last_ts) + 60e3).toISOString().slice(0, 16) + "Z" : "" });
      var capital = h("input", { type: "number", id: "capital", name: "capital", value: "10000", step: "any" });
      var fill = h("select", { id: "fill", name: "fill" }, h("option", { value: "next_open" }, "next_open (decision at t fills at the open of t+1)"), h("option", { value: "close" }, "close (optimistic)"));
      var shared = h("input", { type: "checkbox", id: "shared", name: "shared" });
      function drawParams() {
        var s = strategies.filter(function (x) { return x.name === select.value; })[0];
        paramsBox.innerHTML = "";
        var props = (s.params && s.params.properties) || {};
        var names = Object.keys(props);
        if (!names.length) { append(paramsBox, h("span", { "class": "muted" }, "no parameters")); }
        var grid = h("div", { "class": "grid-params" });
        names.forEach(function (n) {
          var input = paramInput(n, props[n], s.defaults[n]);
          append(grid, h("div", { "class": "field" }, h("label", { "for": "param-" + n }, n + (props[n].description ? " — " + props[n].description : "")), input,
            h("span", { "class": "field-error", "data-error-for": "params." + n, role: "alert" })));
        });
        append(paramsBox, grid, h("span", { "class": "muted" }, s.description + " Needs " + s.min_series + (s.max_series !== s.min_series ? ".." + s.max_series : "") + " series."));
        if (!seriesBox.value && first) { seriesBox.value = seriesName(first); }
      }
      select.addEventListener("change", drawParams);
      append(form, list,
        fieldRow("Strategy", "strategy", select, "strategy"),
        h("span", { "class": "label-like" }, "Parameters"), h("div", { "class": "field" }, paramsBox, h("span", { "class": "field-error", "data-error-for": "params", role: "alert" })),
        fieldRow("Series", "series", seriesBox, "series", "stored series, e.g. kraken:BTC/USD:1m"),
        fieldRow("Conversions", "conversions", conversions, "conversions"),
        fieldRow("Start (UTC)", "start", start, "start", "ISO-8601 date or time"),
        fieldRow("End (UTC, exclusive)", "end", end, "end"),
        fieldRow("Capital", "capital", capital, "capital"),
        fieldRow("Fill", "fill", fill, "fill"),
        fieldRow("Share with all readers", "shared", shared, "shared"),
        h("span"), h("div", {}, h("button", { type: "submit", id: "run" }, "Run backtest")));
      drawParams();
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        Array.prototype.forEach.call(form.querySelectorAll("[data-error-for]"), function (e) { e.textContent = ""; });
        general.textContent = "";
        var params = {};
        Array.prototype.forEach.call(paramsBox.querySelectorAll("[data-kind]"), function (input) {
          var kind = input.getAttribute("data-kind");
          if (kind === "boolean") { params[input.name] = input.checked; return; }
          if (input.value === "") { return; }
          params[input.name] = (kind === "integer" || kind === "number") ? Number(input.value) : input.value;
        });
        var conv = {};
        conversions.value.split(/\n/).map(function (l) { return l.trim(); }).filter(Boolean).forEach(function (l) { var p = l.split("="); conv[p[0].trim()] = (p[1] || "").trim(); });
        var body = {
          strategy: select.value, params: params,
          series: seriesBox.value.split(/[\n,]/).map(function (l) { return l.trim(); }).filter(Boolean),
          start: start.value, end: end.value, fill: fill.value, shared: shared.checked
        };
        if (capital.value !== "") { body.capital = Number(capital.value); }
        if (Object.keys(conv).length) { body.conversions = conv; }
        var button = document.getElementById("run");
        button.disabled = true;
        api("POST", "/api/v1/backtests", body).then(function (res) {
          button.disabled = false;
          if (res.status === 201 || res.status === 202) { location.hash = "#/backtests/" + res.body.id; return; }
          var field = res.body && res.body.field;
          var slot = field ? form.querySelector('[data-error-for="' + field + '"]') : null;
          if (!slot && field) { slot = form.querySelector('[data-error-for="' + field.split(".")[0] + '"]'); }
          if (slot) { slot.textContent = (res.body && res.body.detail) || problemText(res); } else { general.textContent = problemText(res); }
        });
      });
    });
  }

  // -- jobs -------------------------------------------------------------------------------------

  function jobsPage() {
    show(h("h1", {}, "Jobs and collectors"), h("div", { id: "jobs" }, h("p", { "class": "muted" }, "Loading jobs…")), h("p", { id: "job-message", role: "status" }), h("div", { id: "venues" }));
    if (can("exchanges:read")) {
      api("GET", "/api/v1/exchanges").then(function (res) {
        var box = document.getElementById("venues");
        if (!res.ok) { append(box, h("p", { "class": "error" }, problemText(res))); return; }
        var rows = res.body.exchanges.map(function (x) {
          return [x.exchange, x.breaker, String(x.consecutive_failures), when(x.retry_at), x.last_error || "-", x.base_url];
        });
        append(box, h("h2", {}, "Collectors: circuit breakers per venue"),
          table(["venue", "breaker", "failures in a row", "retry at", "last error", "base URL"], rows, { id: "venues-table", label: "circuit breakers" }));
      });
    }
    api("GET", "/api/v1/jobs").then(function (res) {
      var box = document.getElementById("jobs");
      box.innerHTML = "";
      if (!res.ok) { append(box, h("p", { "class": "error" }, problemText(res))); return; }
      if (!res.body.jobs.length) { append(box, h("p", { "class": "muted" }, "No jobs defined (config [[jobs]] or POST /api/v1/jobs).")); return; }
      var manage = can("jobs:manage");
      function act(job, verb) {
        api("POST", "/api/v1/jobs/" + encodeURIComponent(job.id) + "/" + verb).then(function (r) {
          document.getElementById("job-message").textContent = r.ok ? job.name + ": " + verb + " done" : problemText(r);
          if (r.ok) { jobsPage(); }
        });
      }
      var rows = res.body.jobs.map(function (j) {
        var last = j.last_run ? (j.last_run.status + " " + when(j.last_run.finished_at || j.last_run.started_at)) : "never";
        var buttons = manage ? h("span", {},
          h("button", { type: "button", "class": "secondary", onclick: function () { act(j, "run"); } }, "Run now"), " ",
          h("button", { type: "button", "class": "secondary", onclick: function () { act(j, j.paused ? "resume" : "pause"); } }, j.paused ? "Resume" : "Pause")) : "";
        return [j.name, j.kind, j.targets.join(", "), j.paused ? "paused" : (j.running ? "running" : "scheduled"), when(j.next_run_at), last, buttons];
      });
      append(box, table(["job", "kind", "targets", "state", "next run", "last run", ""], rows, { id: "jobs-table", label: "jobs" }));
    });
  }

  // -- admin ------------------------------------------------------------------------------------

  function adminPage() {
    show(h("h1", {}, "Users and API keys"), h("div", { id: "users" }), h("div", { id: "keys" }), h("p", { id: "admin-message", role: "status" }));
    api("GET", "/api/v1/admin/users").then(function (res) {
      if (res.status === 403) { forbidden(problemText(res)); return; }
      var box = document.getElementById("users");
      if (!res.ok) { append(box, h("p", { "class": "error" }, problemText(res))); return; }
      var rows = res.body.users.map(function (u) {
        var verb = u.state === "active" ? "disable" : "enable";
        return [u.username, u.roles.join(", "), u.state, when(u.created_at),
          h("button", { type: "button", "class": "secondary", onclick: function () {
            api("POST", "/api/v1/admin/users/" + encodeURIComponent(u.id) + "/" + verb).then(function (r) { document.getElementById("admin-message").textContent = r.ok ? u.username + ": " + verb + "d" : problemText(r); if (r.ok) { adminPage(); } });
          } }, verb === "disable" ? "Disable" : "Enable")];
      });
      append(box, h("h2", {}, "Users"), table(["user", "roles", "state", "created", ""], rows, { id: "users-table", label: "users" }));
      var name = h("input", { type: "text", id: "new-username", name: "username", autocomplete: "off" });
      var pass = h("input", { type: "password", id: "new-password", name: "password", autocomplete: "new-password" });
      var role = h("select", { id: "new-role", name: "role" }, ["viewer", "analyst", "operator", "admin"].map(function (r) { return h("option", { value: r }, r); }));
      var err = h("p", { "class": "error", role: "alert" });
      append(box, h("h2", {}, "Create a user"), h("form", { "class": "grid", id: "new-user", onsubmit: function (ev) {
        ev.preventDefault();
        api("POST", "/api/v1/admin/users", { username: name.value, password: pass.value, roles: [role.value] }).then(function (r) {
          pass.value = "";
          if (!r.ok) { err.textContent = problemText(r); return; }
          adminPage();
        });
      } }, h("label", { "for": "new-username" }, "User name"), name, h("label", { "for": "new-password" }, "Initial password"), pass,
        h("label", { "for": "new-role" }, "Role"), role, h("span"), h("div", {}, h("button", { type: "submit" }, "Create user"))), err);
    });
    api("GET", "/api/v1/admin/api-keys").then(function (res) {
      var box = document.getElementById("keys");
      if (!res.ok || !box) { return; }
      var rows = res.body.api_keys.map(function (k) {
        return [k.name, k.prefix, k.roles.join(", "), when(k.created_at), when(k.expires_at), k.revoked_at ? "revoked" : "active",
          k.revoked_at ? "" : h("button", { type: "button", "class": "secondary", onclick: function () {
            api("DELETE", "/api/v1/admin/api-keys/" + encodeURIComponent(k.id)).then(function (r) { document.getElementById("admin-message").textContent = r.ok ? k.name + " revoked" : problemText(r); if (r.ok) { adminPage(); } });
          } }, "Revoke")];
      });
      append(box, h("h2", {}, "API keys"), table(["name", "prefix", "roles", "created", "expires", "state", ""], rows, { id: "keys-table", label: "API keys" }));
    });
  }

  // -- start ------------------------------------------------------------------------------------

  window.addEventListener("hashchange", route);
  var saved = sessionStorage.getItem(TOKENS);
  if (saved) {
    try { state.tokens = JSON.parse(saved); } catch (e) { state.tokens = null; }
  }
  (state.tokens ? loadMe() : Promise.resolve(null)).then(route);
})();
