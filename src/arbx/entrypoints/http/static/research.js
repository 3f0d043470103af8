/* arbx web UI, research and alert pages: optimization studies (list, a study from a form
   built from the strategy's parameter schema, progress while it runs, its report),
   walk-forwards (run one from a form, its report) and alerts (rules, history, channels).
   app.js calls window.arbxResearchPages(ui) with its helpers and adds the pages it returns.
   Every text from the API is put in the page as text (never as HTML). */
(function () {
  "use strict";

  var ALERT_KINDS = [
    ["collector_stale", "a series' newest bar is older than N minutes", "minutes"],
    ["quality_below", "a series' quality score is below X", "score 0-1"],
    ["outage_gap", "a new outage gap of at least N bars", "bars (default 1)"],
    ["job_failing", "a job failed K times in a row", "K (default 3)"],
    ["breaker_open", "a venue's circuit breaker is open", ""],
    ["backtest_failed", "a strategy's backtest failed", ""],
    ["stream_disconnected", "a stream is disconnected for N seconds", "seconds"],
    ["spread_above", "the live net spread is above Y bps", "bps"],
    ["strategy_rolled_back", "an approved version was rolled back", ""]
  ];
  var OBJECTIVES = ["sharpe", "sortino", "calmar", "total_return", "net_pnl", "excess_return"];

  window.arbxResearchPages = function (ui) {
    var h = ui.h, append = ui.append, show = ui.show, can = ui.can, api = ui.api;
    var table = ui.table, when = ui.when, num = ui.num, problemText = ui.problemText;

    function byId(id) { return document.getElementById(id); }

    function clearErrors(form) {
      Array.prototype.forEach.call(form.querySelectorAll("[data-error-for]"), function (e) { e.textContent = ""; });
    }

    // the API's 422 next to its field: the exact field, without "optimization.", its parent
    function showError(form, general, res) {
      var body = res.body || {};
      var field = body.field || "";
      var tries = [field, field.replace(/^optimization\./, "")];
      tries.push(tries[1].split(".").slice(0, 2).join("."), tries[1].split(".")[0]);
      for (var i = 0; i < tries.length; i++) {
        var slot = tries[i] ? form.querySelector('[data-error-for="' + tries[i] + '"]') : null;
        if (slot) { slot.textContent = body.detail || problemText(res); return; }
      }
      general.textContent = problemText(res);
    }

    function errorSlot(field) {
      return h("span", { "class": "field-error", "data-error-for": field, role: "alert" });
    }

    function row(label, id, input, field, hint) {
      return [h("label", { "for": id }, label),
        h("div", { "class": "field" }, input, hint ? h("span", { "class": "muted" }, hint) : null, errorSlot(field))];
    }

    function lines(text) {
      return text.split(/[\n,]/).map(function (l) { return l.trim(); }).filter(Boolean);
    }

    function frameView(box, filename) {
      // a report in a sandboxed frame (opaque origin: it cannot read this page's tokens)
      var frame = h("iframe", { "class": "report", id: "report-frame", title: "report", sandbox: "allow-scripts" });
      var download = h("button", { type: "button", "class": "secondary", id: "download", disabled: true }, "Download HTML");
      append(box, h("div", { "class": "toolbar" }, download), frame);
      return function (html) {
        frame.srcdoc = html;
        download.disabled = false;
        download.onclick = function () {
          var a = h("a", { href: URL.createObjectURL(new Blob([html], { type: "text/html" })), download: filename });
          document.body.appendChild(a); a.click(); a.remove();
        };
      };
    }

    // -- the search form shared by studies and walk-forwards --------------------------------

    function dimensionRow(name, schema, value) {
      // a parameter: fixed (its default) or searched (a range, or choices)
      var type = schema.type;
      if (Array.isArray(type)) { type = type.filter(function (t) { return t !== "null"; })[0]; }
      var searched = h("input", { type: "checkbox", id: "search-" + name, "data-search": name });
      var fixed = ui.paramInput(name, schema, value);
      var parts = h("span", { "class": "range", hidden: true });
      var numeric = (type === "integer" || type === "number") && !schema["enum"];
      var low, high, step, log, choices;
      if (numeric) {
        var stepDefault = type === "integer" ? "1" : "";
        low = h("input", { type: "number", step: "any", id: "low-" + name, value: value === null || value === undefined ? "" : String(value) });
        high = h("input", { type: "number", step: "any", id: "high-" + name, value: "" });
        step = h("input", { type: "number", step: "any", id: "step-" + name, value: stepDefault });
        log = h("input", { type: "checkbox", id: "log-" + name });
        append(parts, h("label", { "for": "low-" + name }, "low"), low, h("label", { "for": "high-" + name }, "high"), high,
          h("label", { "for": "step-" + name }, "step"), step, h("label", { "for": "log-" + name }, "log"), log);
      } else {
        var options = schema["enum"] || (type === "boolean" ? [true, false] : []);
        choices = h("input", { type: "text", id: "choices-" + name, value: options.join(","), "aria-describedby": "choices-hint-" + name });
        append(parts, h("label", { "for": "choices-" + name }, "choices"), choices,
          h("span", { "class": "muted", id: "choices-hint-" + name }, "comma-separated"));
      }
      searched.addEventListener("change", function () {
        parts.hidden = !searched.checked;
        fixed.disabled = searched.checked;
      });
      var el = h("div", { "class": "dimension", "data-dimension": name },
        h("span", { "class": "param-name" }, name), h("label", { "for": "search-" + name }, "search"), searched,
        h("label", { "for": "param-" + name, "class": "sr-only" }, name + " value"), fixed, parts,
        errorSlot("space." + name), errorSlot("backtest.params." + name));
      el.read = function (space, params) {
        if (!searched.checked) {
          var kind = fixed.getAttribute("data-kind");
          if (kind === "boolean") { params[name] = fixed.checked; return; }
          if (fixed.value === "") { return; }
          params[name] = (kind === "integer" || kind === "number") ? Number(fixed.value) : fixed.value;
          return;
        }
        if (numeric) {
          var spec = {};
          if (low.value !== "") { spec.low = Number(low.value); }
          if (high.value !== "") { spec.high = Number(high.value); }
          if (step.value !== "") { spec.step = Number(step.value); }
          if (log.checked) { spec.log = true; }
          space[name] = spec;
        } else {
          space[name] = { choices: lines(choices.value).map(function (c) { return c === "true" ? true : c === "false" ? false : c; }) };
        }
      };
      el.search = function (spec) {
        searched.checked = true; parts.hidden = false; fixed.disabled = true;
        if (low && spec.low !== undefined) { low.value = String(spec.low); }
        if (high && spec.high !== undefined) { high.value = String(spec.high); }
        if (step && spec.step !== undefined) { step.value = String(spec.step); }
      };
      return el;
    }

    function searchForm(form, general, extra, done) {
      // fills ``form`` with the strategy, its parameters (fixed or searched), the data and
      // the search; ``extra``: more rows; ``done(read)``: read() gives the optimization body
      Promise.all([api("GET", "/api/v1/strategies"), api("GET", "/api/v1/series")]).then(function (got) {
        if (!got[0].ok) { general.textContent = problemText(got[0]); return; }
        var strategies = got[0].body.strategies;
        var known = got[1].ok ? got[1].body.series : [];
        var first = known[0];
        var list = h("datalist", { id: "known-series" }, known.map(function (s) { return h("option", { value: ui.seriesName(s) }); }));
        var select = h("select", { id: "strategy", name: "strategy" }, strategies.map(function (s) { return h("option", { value: s.name }, s.name + " (" + s.kind + ")"); }));
        var dims = h("div", { id: "dimensions", "class": "field" });
        var series = h("textarea", { id: "series", rows: "2", placeholder: "exchange:BASE/QUOTE:tf, one per line" });
        var conversions = h("textarea", { id: "conversions", rows: "2", placeholder: "TRADED=CONVERSION, one per line (arbitrage across quotes)" });
        var start = h("input", { type: "text", id: "start", value: first ? first.first_ts.slice(0, 10) : "" });
        var end = h("input", { type: "text", id: "end", value: first ? new Date(Date.parse(first.last_ts) + 60e3).toISOString().slice(0, 16) + "Z" : "" });
        var method = h("select", { id: "method" }, ["grid", "random", "bayes"].map(function (m) { return h("option", { value: m }, m); }));
        var trials = h("input", { type: "number", id: "trials", min: "1", step: "1", value: "30" });
        var objective = h("select", { id: "objective" }, OBJECTIVES.map(function (o) { return h("option", { value: o }, o); }));
        var direction = h("select", { id: "direction" }, h("option", { value: "maximize" }, "maximize"), h("option", { value: "minimize" }, "minimize"));
        var minTrades = h("input", { type: "number", id: "min-trades", min: "0", step: "1", value: "0" });
        var seed = h("input", { type: "number", id: "seed", step: "1", value: "0" });
        var rows = [];
        function drawDims() {
          var s = strategies.filter(function (x) { return x.name === select.value; })[0];
          dims.innerHTML = "";
          rows = [];
          var props = (s.params && s.params.properties) || {};
          Object.keys(props).forEach(function (n) {
            var r = dimensionRow(n, props[n], s.defaults[n]);
            rows.push(r);
            append(dims, r);
          });
          // a useful start: search the first two numeric parameters around their defaults
          var numeric = rows.filter(function (r) { return r.querySelector("[id^=low-]"); }).slice(0, 2);
          numeric.forEach(function (r) {
            var d = Number(s.defaults[r.getAttribute("data-dimension")]) || 1;
            var integer = (props[r.getAttribute("data-dimension")].type === "integer");
            var lo = integer ? Math.max(1, Math.round(d / 2)) : d / 2, hi = integer ? Math.round(d * 2) : d * 2;
            r.search({ low: lo, high: hi, step: integer ? Math.max(1, Math.round((hi - lo) / 4)) : (hi - lo) / 4 });
          });
          if (!rows.length) { append(dims, h("span", { "class": "muted" }, "no parameters to search")); }
          if (!series.value && first) { series.value = ui.seriesName(first); }
        }
        select.addEventListener("change", drawDims);
        append(form, list,
          row("Strategy", "strategy", select, "backtest.strategy"),
          h("span", { "class": "label-like" }, "Parameters"), h("div", { "class": "field" }, dims, errorSlot("space"),
            h("span", { "class": "muted" }, "tick search and give a range (a grid runs every step) or choices; others stay fixed")),
          row("Series", "series", series, "backtest.series", "stored series, e.g. kraken:BTC/USD:1m"),
          row("Conversions", "conversions", conversions, "backtest.conversions"),
          row("Start (UTC)", "start", start, "backtest.start", "ISO-8601 date or time"),
          row("End (UTC, exclusive)", "end", end, "backtest.end"),
          row("Method", "method", method, "method", "grid: every point; random and bayes (TPE): the trials below"),
          row("Trials", "trials", trials, "trials", "random and bayes searches"),
          row("Objective", "objective", objective, "objective"),
          row("Direction", "direction", direction, "direction"),
          row("Minimum trades", "min-trades", minTrades, "min_trades", "trials with fewer are infeasible"),
          row("Seed", "seed", seed, "seed"),
          extra);
        drawDims();
        done(function () {
          var space = {}, params = {};
          rows.forEach(function (r) { r.read(space, params); });
          var conv = {};
          lines(conversions.value.replace(/,/g, "\n")).forEach(function (l) { var p = l.split("="); conv[p[0].trim()] = (p[1] || "").trim(); });
          var backtest = { strategy: select.value, params: params, series: lines(series.value), start: start.value, end: end.value };
          if (Object.keys(conv).length) { backtest.conversions = conv; }
          var body = { backtest: backtest, space: space, method: method.value, objective: objective.value,
            direction: direction.value, min_trades: Number(minTrades.value || 0), seed: Number(seed.value || 0) };
          if (method.value !== "grid" && trials.value !== "") { body.trials = Number(trials.value); }
          return body;
        });
      });
    }

    // -- optimizations --------------------------------------------------------------------

    function optimizationsPage(parts) {
      if (parts[0] === "new") { return newStudyPage(); }
      if (parts[0]) { return studyPage(parts[0]); }
      show(h("h1", {}, "Optimization studies"),
        h("div", { "class": "toolbar" }, can("backtests:run") ? h("a", { href: "#/optimizations/new", id: "new-study" }, "New study") : null),
        h("div", { id: "studies" }, h("p", { "class": "muted" }, "Loading studies…")));
      api("GET", "/api/v1/optimizations").then(function (res) {
        var box = byId("studies");
        box.innerHTML = "";
        if (!res.ok) { append(box, h("p", { "class": "error" }, problemText(res))); return; }
        var studies = res.body.optimizations;
        if (!studies.length) { append(box, h("p", { "class": "muted" }, "No studies yet.")); return; }
        var rows = studies.map(function (s) {
          var best = s.best;
          var dims = (s.space.dimensions || []).map(function (d) { return d.name; }).join(", ");
          return [h("a", { href: "#/optimizations/" + s.id }, s.id.slice(0, 12)), when(s.created_at), s.strategy, s.method, dims,
            s.objective.direction + " " + s.objective.metric, s.status, s.trials_done + " / " + s.n_trials,
            best ? num(best.value, 4) : "-",
            best ? Object.keys(best.params).map(function (k) { return k + "=" + best.params[k]; }).join(", ") : "-"];
        });
        append(box, table(["study", "created (UTC)", "strategy", "method", "searched", "objective", "status", "trials", "best", "best params"],
          rows, { id: "studies-table", label: "optimization studies", numeric: [0, 0, 0, 0, 0, 0, 0, 1, 1, 0] }));
      });
    }

    function newStudyPage() {
      if (!can("backtests:run")) { ui.forbidden("Your role cannot run optimizations."); return; }
      var form = h("form", { "class": "grid", id: "study-form", novalidate: true });
      var general = h("p", { "class": "error", id: "form-error", role: "alert" });
      show(h("h1", {}, "New optimization study"), form, general);
      var submit = h("div", {}, h("button", { type: "submit", id: "run" }, "Start study"));
      searchForm(form, general, [h("span"), submit], function (read) {
        form.addEventListener("submit", function (ev) {
          ev.preventDefault();
          clearErrors(form);
          general.textContent = "";
          var button = byId("run");
          button.disabled = true;
          api("POST", "/api/v1/optimizations", read()).then(function (res) {
            button.disabled = false;
            if (res.status === 202) { location.hash = "#/optimizations/" + res.body.id; return; }
            showError(form, general, res);
          });
        });
      });
    }

    function studyPage(id) {
      var status = h("p", { id: "study-status", role: "status" }, "Loading the study…");
      var bar = h("progress", { id: "study-progress", max: "1", value: "0", "aria-label": "trials done" });
      var actions = h("div", { "class": "toolbar" }, h("a", { href: "#/optimizations" }, "All studies"));
      var box = h("div", { id: "study-report" });
      show(h("h1", {}, "Study " + id.slice(0, 12)), actions, bar, status, box);
      var loaded = false;
      function report() {
        loaded = true;
        append(box, h("p", { "class": "muted", id: "report-status" }, "Loading the report…"));
        var put = frameView(box, "study-" + id + ".html");
        api("GET", "/api/v1/optimizations/" + encodeURIComponent(id) + "/report", undefined, "text/html").then(function (res) {
          var note = byId("report-status");
          if (!res.ok) { note.textContent = problemText(res); note.className = "error"; return; }
          note.textContent = "";
          put(res.body);
        });
      }
      function poll(tries) {
        api("GET", "/api/v1/optimizations/" + encodeURIComponent(id)).then(function (res) {
          if (res.status === 403) { ui.forbidden(problemText(res)); return; }
          if (!res.ok) { status.textContent = problemText(res); status.className = "error"; return; }
          var s = res.body;
          bar.max = String(Math.max(1, s.n_trials));
          bar.value = String(s.trials_done + s.trials_failed);
          var best = s.best ? "; best so far: trial " + s.best.number + ", " + s.objective.metric + " " + num(s.best.value, 4) : "";
          var eta = s.eta_seconds !== null && s.eta_seconds !== undefined ? "; about " + Math.ceil(s.eta_seconds) + " s left" : "";
          status.textContent = s.strategy + " (" + s.method + "): " + s.status + ", " + s.trials_done + " of " + s.n_trials + " trials done" + best + eta + (s.error ? "; " + s.error : "");
          if (s.status === "running" && tries < 3600) { setTimeout(function () { poll(tries + 1); }, 1000); return; }
          if (s.status === "interrupted" && can("backtests:run") && !byId("resume")) {
            append(actions, h("button", { type: "button", id: "resume", onclick: function () {
              api("POST", "/api/v1/optimizations/" + encodeURIComponent(id) + "/resume").then(function (r) {
                if (!r.ok) { status.textContent = problemText(r); return; }
                box.innerHTML = ""; loaded = false; poll(0);
              });
            } }, "Resume"));
          }
          if (!loaded) { report(); }
        });
      }
      poll(0);
    }

    // -- walk-forwards ----------------------------------------------------------------------

    function walkForwardPage(parts) {
      if (parts && parts[0]) { return storedWalkForward(parts[0]); }
      var stored = h("div", { id: "walk-forwards" }, h("p", { "class": "muted" }, "Loading walk-forwards…"));
      function listStored() { api("GET", "/api/v1/walk-forwards").then(function (res) {
        stored.innerHTML = "";
        if (!res.ok) { append(stored, h("p", { "class": "error" }, problemText(res))); return; }
        var rows = res.body.walk_forwards.map(function (w) {
          return [h("a", { href: "#/walk-forwards/" + w.id }, w.id.slice(0, 12)), when(w.created_at), w.strategy, w.method,
            w.objective.direction + " " + w.objective.metric, w.mode, w.folds_done + " / " + w.folds_total, w.status];
        });
        append(stored, h("h2", {}, "Stored walk-forwards"), rows.length
          ? table(["walk-forward", "created (UTC)", "strategy", "method", "objective", "mode", "folds", "status"], rows,
            { id: "walk-forwards-table", label: "stored walk-forwards", numeric: [0, 0, 0, 0, 0, 0, 1, 0] })
          : h("p", { "class": "muted" }, "No walk-forwards stored yet."));
      }); }
      listStored();
      if (!can("backtests:run")) {
        show(h("h1", {}, "Walk-forward analyses"), stored);
        return;
      }
      var form = h("form", { "class": "grid", id: "walk-form", novalidate: true });
      var general = h("p", { "class": "error", id: "form-error", role: "alert" });
      var status = h("p", { "class": "muted", id: "walk-status", role: "status" });
      var box = h("div", { id: "walk-report" });
      show(h("h1", {}, "Walk-forward analysis"),
        h("p", { "class": "muted" }, "Folds are cut on the bars of the first series: each train fold is searched, its best parameters run on the test fold after it."),
        form, general, status, box, stored);
      var train = h("input", { type: "number", id: "train", min: "1", step: "1", value: "1200" });
      var test = h("input", { type: "number", id: "test", min: "1", step: "1", value: "400" });
      var step = h("input", { type: "number", id: "step", min: "1", step: "1", placeholder: "default: test" });
      var mode = h("select", { id: "mode" }, h("option", { value: "rolling" }, "rolling"), h("option", { value: "anchored" }, "anchored (train folds all start at the first bar)"));
      var purge = h("input", { type: "number", id: "purge", min: "0", step: "1", value: "0" });
      var embargo = h("input", { type: "number", id: "embargo", min: "0", step: "1", value: "0" });
      var extra = [
        [h("label", { "for": "train" }, "Train bars"), h("div", { "class": "field" }, train, errorSlot("train"), errorSlot("folds"))],
        row("Test bars", "test", test, "test"),
        row("Step bars", "step", step, "step"), row("Mode", "mode", mode, "mode"),
        row("Purge bars", "purge", purge, "purge", "dropped from each train fold's end"),
        row("Embargo bars", "embargo", embargo, "embargo", "skipped before each test fold"),
        h("span"), h("div", {}, h("button", { type: "submit", id: "run" }, "Run walk-forward"))
      ];
      searchForm(form, general, extra, function (read) {
        byId("method").value = "grid";
        form.addEventListener("submit", function (ev) {
          ev.preventDefault();
          clearErrors(form);
          general.textContent = "";
          box.innerHTML = "";
          var body = { optimization: read(), train: Number(train.value), test: Number(test.value), mode: mode.value,
            purge: Number(purge.value || 0), embargo: Number(embargo.value || 0) };
          if (step.value !== "") { body.step = Number(step.value); }
          var button = byId("run");
          button.disabled = true;
          status.textContent = "Running the walk-forward (a search per fold)…";
          api("POST", "/api/v1/optimizations/walk-forward/report", body, "text/html").then(function (res) {
            button.disabled = false;
            if (!res.ok) { status.textContent = ""; showError(form, general, res); return; }
            status.textContent = "Done: the report is below; the walk-forward is stored (listed below).";
            frameView(box, "walk-forward.html")(res.body);
            listStored();
          });
        });
      });
    }

    function storedWalkForward(id) {
      var box = h("div", { id: "walk-report" });
      var note = h("p", { "class": "muted", id: "report-status", role: "status" }, "Loading the report…");
      show(h("h1", {}, "Walk-forward " + id.slice(0, 12)), h("div", { "class": "toolbar" }, h("a", { href: "#/walk-forwards" }, "All walk-forwards")), note, box);
      var put = frameView(box, "walk-forward-" + id + ".html");
      api("GET", "/api/v1/walk-forwards/" + encodeURIComponent(id) + "/report", undefined, "text/html").then(function (res) {
        if (res.status === 403) { ui.forbidden(problemText(res)); return; }
        if (!res.ok) { note.textContent = problemText(res); note.className = "error"; return; }
        note.textContent = "";
        put(res.body);
      });
    }

    // -- alerts -----------------------------------------------------------------------------

    function alertsPage() {
      var message = h("p", { id: "alert-message", role: "status" });
      show(h("h1", {}, "Alerts"), message,
        h("div", { id: "rules" }, h("p", { "class": "muted" }, "Loading rules…")),
        h("div", { id: "rule-add" }), h("div", { id: "channels" }), h("div", { id: "history" }));
      var manage = can("alerts:manage");
      api("GET", "/api/v1/alerts").then(function (res) {
        var box = byId("rules");
        box.innerHTML = "";
        if (res.status === 403) { ui.forbidden(problemText(res)); return; }
        if (!res.ok) { append(box, h("p", { "class": "error" }, problemText(res))); return; }
        var rows = res.body.rules.map(function (v) {
          var r = v.rule;
          var remove = manage && r.origin === "api" ? h("button", { type: "button", "class": "secondary", "data-delete": r.name, "aria-label": "delete rule " + r.name, onclick: function () {
            api("DELETE", "/api/v1/alerts/rules/" + encodeURIComponent(r.id)).then(function (d) {
              message.textContent = d.ok ? "rule " + r.name + " deleted" : problemText(d);
              if (d.ok) { alertsPage(); byId("alert-message").textContent = "rule " + r.name + " deleted"; }
            });
          } }, "Delete") : (r.origin === "config" ? h("span", { "class": "muted" }, "from the config") : "");
          return [r.name, r.kind, r.threshold === null ? "-" : String(r.threshold), r.match || "*", r.severity, String(r.cooldown_s),
            r.channels.length ? r.channels.join(", ") : "all", r.enabled ? "yes" : "no", String(v.firing.length), remove];
        });
        append(box, h("h2", {}, "Rules"), rows.length
          ? table(["rule", "kind", "threshold", "match", "severity", "cooldown (s)", "channels", "enabled", "firing now", ""], rows,
            { id: "rules-table", label: "alert rules", numeric: [0, 0, 1, 0, 0, 1, 0, 0, 1, 0] })
          : h("p", { "class": "muted" }, "No rules yet."));
      });
      if (manage) { ruleForm(byId("rule-add")); }
      api("GET", "/api/v1/alerts/channels").then(function (res) {
        var box = byId("channels");
        if (!box || !res.ok) { return; }
        var rows = res.body.channels.map(function (c) {
          return [c.name, c.kind, c.ok ? "ok" : "failing", String(c.delivered), String(c.failed), String(c.pending), when(c.last_delivered_at), c.last_error || "-"];
        });
        append(box, h("h2", {}, "Channels"), rows.length
          ? table(["channel", "kind", "state", "delivered", "failed", "pending", "last delivery", "last error"], rows,
            { id: "channels-table", label: "notification channels", numeric: [0, 0, 0, 1, 1, 1, 0, 0] })
          : h("p", { "class": "muted", id: "no-channels" }, "No notification channels configured ([[alerts.channels]])."));
      });
      api("GET", "/api/v1/alerts/history?limit=100").then(function (res) {
        var box = byId("history");
        if (!box || !res.ok) { return; }
        var rows = res.body.transitions.map(function (t) {
          return [when(t.at), t.rule_name, t.kind, t.severity, t.subject, t.state, t.value === null ? "-" : num(t.value, 3), t.summary];
        });
        append(box, h("h2", {}, "History (newest first)"), rows.length
          ? table(["at (UTC)", "rule", "kind", "severity", "subject", "state", "value", "summary"], rows, { id: "history-table", label: "alert history" })
          : h("p", { "class": "muted", id: "no-history" }, "Nothing has fired yet."));
      });
    }

    function ruleForm(box) {
      var general = h("p", { "class": "error", role: "alert", id: "rule-error" });
      var name = h("input", { type: "text", id: "rule-name", autocomplete: "off", placeholder: "e.g. kraken-stale" });
      var kind = h("select", { id: "rule-kind" }, ALERT_KINDS.map(function (k) { return h("option", { value: k[0] }, k[0] + ": " + k[1]); }));
      var threshold = h("input", { type: "number", id: "rule-threshold", step: "any" });
      var unit = h("span", { "class": "muted", id: "rule-unit" });
      var match = h("input", { type: "text", id: "rule-match", placeholder: "shell pattern, e.g. kraken:*" });
      var severity = h("select", { id: "rule-severity" }, ["info", "warning", "critical"].map(function (s) { return h("option", { value: s, selected: s === "warning" }, s); }));
      var cooldown = h("input", { type: "number", id: "rule-cooldown", step: "any", value: "300" });
      var channels = h("input", { type: "text", id: "rule-channels", placeholder: "empty: every channel" });
      var enabled = h("input", { type: "checkbox", id: "rule-enabled", checked: true });
      function unitText() {
        var k = ALERT_KINDS.filter(function (x) { return x[0] === kind.value; })[0];
        unit.textContent = k[2] ? "threshold: " + k[2] : "no threshold";
        threshold.disabled = !k[2];
      }
      kind.addEventListener("change", unitText);
      var form = h("form", { "class": "grid", id: "rule-form", novalidate: true },
        row("Name", "rule-name", name, "name"), row("Kind", "rule-kind", kind, "kind"),
        [h("label", { "for": "rule-threshold" }, "Threshold"), h("div", { "class": "field" }, threshold, unit, errorSlot("threshold"))],
        row("Match", "rule-match", match, "match"), row("Severity", "rule-severity", severity, "severity"),
        row("Cooldown (s)", "rule-cooldown", cooldown, "cooldown_s"), row("Channels", "rule-channels", channels, "channels", "comma-separated channel names"),
        row("Enabled", "rule-enabled", enabled, "enabled"),
        h("span"), h("div", {}, h("button", { type: "submit", id: "add-rule" }, "Add rule")));
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        clearErrors(form);
        general.textContent = "";
        var body = { name: name.value.trim(), kind: kind.value, severity: severity.value, enabled: enabled.checked, channels: lines(channels.value) };
        if (!threshold.disabled && threshold.value !== "") { body.threshold = Number(threshold.value); }
        if (match.value.trim()) { body.match = match.value.trim(); }
        if (cooldown.value !== "") { body.cooldown_s = Number(cooldown.value); }
        api("POST", "/api/v1/alerts/rules", body).then(function (res) {
          if (res.status === 201) { alertsPage(); byId("alert-message").textContent = "rule " + res.body.name + " added"; return; }
          showError(form, general, res);
        });
      });
      append(box, h("h2", {}, "Add a rule"), form, general);
      unitText();
    }

    return {
      optimizations: { path: "optimizations", label: "Optimizations", permission: "results:read", render: optimizationsPage },
      walkForwards: { path: "walk-forwards", label: "Walk-forwards", permission: "results:read", render: walkForwardPage },
      alerts: { path: "alerts", label: "Alerts", permission: "observability:read", render: alertsPage }
    };
  };
})();
