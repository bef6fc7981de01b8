// driftrec dashboard glue: draw the figures the page embeds as JSON, nothing else.
(function () {
  "use strict";
  function draw() {
    var pending = [];
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-figure"));
      if (!source || typeof Plotly === "undefined") { return; }
      var fig = JSON.parse(source.textContent);
      pending.push(Plotly.newPlot(el, fig.data, fig.layout,
                                  {responsive: true, displaylogo: false}).then(function () {
        // points that carry a dashboard link (items) open it on click
        el.on("plotly_click", function (ev) {
          var url = ev.points && ev.points[0] && ev.points[0].customdata;
          if (typeof url === "string" && url.indexOf("/dashboard/") === 0) {
            window.location.href = url;
          }
        });
      }));
    });
    document.querySelectorAll("input[type=range][data-autosubmit]").forEach(function (input) {
      var out = document.getElementById(input.id + "-value");
      input.addEventListener("input", function () { if (out) { out.textContent = input.value; } });
      input.addEventListener("change", function () { input.form.submit(); });
    });
    Promise.all(pending).then(function () {
      document.body.setAttribute("data-charts-ready", String(pending.length));
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
