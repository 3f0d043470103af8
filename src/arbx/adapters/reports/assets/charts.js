/* arbx report charts: draws the time charts of a report with uPlot (inlined beside this
   file, no network). Each <div class="arbx-chart" data-chart="N"> gets chart N of the JSON
   in the script element "arbx-report-data". Shared by the reports and the web UI (window.arbxCharts). */
(function () {
  "use strict";

  function percent(values) {
    return values.map(function (v) { return v == null ? "" : (v * 100).toFixed(1) + "%"; });
  }

  function bandsPlugin(bands) {
    return {
      hooks: {
        drawClear: function (u) {
          if (!bands || !bands.length) { return; }
          var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
          ctx.save();
          ctx.fillStyle = "rgba(214, 39, 40, 0.13)";
          for (var i = 0; i < bands.length; i++) {
            var a = u.valToPos(bands[i].start, "x", true);
            var b = u.valToPos(bands[i].end, "x", true);
            if (b < u.bbox.left || a > u.bbox.left + u.bbox.width) { continue; }
            ctx.fillRect(a, top, Math.max(1, b - a), height);
          }
          ctx.restore();
        }
      }
    };
  }

  function candlesPlugin(candles) {
    // candles: {open: [], high: [], low: [], close: []} aligned with x
    return {
      hooks: {
        draw: function (u) {
          if (!candles) { return; }
          var ctx = u.ctx, xs = u.data[0];
          var i0 = u.series[0].idxs ? u.series[0].idxs[0] : 0;
          var i1 = u.series[0].idxs ? u.series[0].idxs[1] : xs.length - 1;
          var count = Math.max(1, i1 - i0 + 1);
          var w = Math.max(1, Math.min(12, (u.bbox.width / count) * 0.6));
          ctx.save();
          for (var i = i0; i <= i1; i++) {
            var o = candles.open[i], h = candles.high[i], l = candles.low[i], c = candles.close[i];
            if (o == null || c == null) { continue; }
            var x = u.valToPos(xs[i], "x", true);
            var color = c >= o ? "#2ca02c" : "#d62728";
            ctx.strokeStyle = color; ctx.fillStyle = color;
            ctx.beginPath();
            ctx.moveTo(x, u.valToPos(h, "y", true));
            ctx.lineTo(x, u.valToPos(l, "y", true));
            ctx.stroke();
            var yo = u.valToPos(o, "y", true), yc = u.valToPos(c, "y", true);
            ctx.fillRect(x - w / 2, Math.min(yo, yc), w, Math.max(1, Math.abs(yc - yo)));
          }
          ctx.restore();
        }
      }
    };
  }

  function series(trace) {
    var s = { label: trace.label, stroke: trace.color, width: 1.25, scale: trace.axis || "y" };
    if (trace.style === "points") {
      s.paths = function () { return null; };
      s.points = { show: true, size: 8, fill: trace.color, stroke: trace.color };
      s.width = 0;
    } else {
      s.points = { show: false };
      s.spanGaps = true;
      if (trace.style === "step") { s.paths = uPlot.paths.stepped({ align: 1 }); }
      if (trace.style === "area") { s.fill = trace.color + "40"; }
    }
    if (trace.hidden) { s.show = false; }
    return s;
  }

  function draw(el, chart) {
    var hasY2 = chart.traces.some(function (t) { return t.axis === "y2"; });
    var axes = [{}, { label: chart.y_label, size: 70 }];
    if (chart.percent) { axes[1].values = function (u, v) { return percent(v); }; }
    if (hasY2) { axes.push({ scale: "y2", side: 1, label: chart.y2_label, grid: { show: false }, size: 70 }); }
    var scales = { x: { time: true } };
    if (hasY2) { scales.y2 = {}; }
    var plugins = [bandsPlugin(chart.bands)];
    if (chart.candles) { plugins.push(candlesPlugin(chart.candles)); }
    var data = [chart.x].concat(chart.traces.map(function (t) { return t.values; }));
    var width = Math.max(320, el.clientWidth || 900);
    var opts = {
      width: width,
      height: chart.height || 280,
      series: [{}].concat(chart.traces.map(series)),
      axes: axes,
      scales: scales,
      plugins: plugins,
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); }
    };
    el.innerHTML = "";
    var plot = new uPlot(opts, data, el);
    el.arbxPlot = plot;
    return plot;
  }

  function drawAll(root, charts) {
    var nodes = (root || document).querySelectorAll("[data-chart]");
    var plots = [];
    for (var i = 0; i < nodes.length; i++) {
      var chart = charts[Number(nodes[i].getAttribute("data-chart"))];
      if (chart) { plots.push([nodes[i], draw(nodes[i], chart)]); }
    }
    window.addEventListener("resize", function () {
      plots.forEach(function (p) {
        p[1].setSize({ width: Math.max(320, p[0].clientWidth), height: p[1].height });
      });
    });
    return plots;
  }

  window.arbxCharts = { draw: draw, drawAll: drawAll };

  var data = document.getElementById("arbx-report-data");
  if (data) {
    var report = JSON.parse(data.textContent);
    var go = function () {
      drawAll(document, report.charts);
      // when every chart was drawn, in ms from the start of navigation (bench/report.py)
      document.body.setAttribute("data-charts-ms", String(Math.round(performance.now())));
      document.body.setAttribute("data-charts-drawn", String(report.charts.length));
    };
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", go); } else { go(); }
  }
})();
