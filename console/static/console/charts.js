/* Charts of the admin web app (Chart.js 4 from static/vendor). The figures come from a JSON
   script tag the server rendered; amounts stay decimal strings there and are parsed for drawing
   only. Charts are kept in window.tollgateCharts so tests can read what is drawn. */
window.tollgateCharts = window.tollgateCharts || {};

function tollgateData(id) {
  return JSON.parse(document.getElementById(id).textContent);
}

function tollgateNumbers(values) {
  return values.map(function (v) { return v === null ? null : parseFloat(v); });
}

function tollgateMoneyTick(value) {
  return "$" + Number(value).toPrecision(3).replace(/\.?0+$/, "");
}

function tollgateStackedBar(canvasId, labels, datasets, name) {
  var chart = new Chart(document.getElementById(canvasId), {
    type: "bar",
    data: {
      labels: labels,
      datasets: datasets.map(function (ds) {
        return { label: ds.label, data: tollgateNumbers(ds.data), raw: ds.data };
      })
    },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: tollgateMoneyTick } } },
      plugins: { tooltip: { callbacks: { label: function (ctx) {
        return ctx.dataset.label + ": $" + ctx.dataset.raw[ctx.dataIndex];
      } } } }
    }
  });
  window.tollgateCharts[name] = chart;
  return chart;
}

function tollgateDashboard(dataId) {
  var data = tollgateData(dataId);
  var daily = tollgateStackedBar("tg-daily-chart", data.days, data.by.model.datasets, "daily");
  var switcher = document.getElementById("tg-daily-switch");
  switcher.addEventListener("click", function (event) {
    var by = event.target.getAttribute("data-by");
    if (!by) { return; }
    switcher.querySelectorAll("button").forEach(function (b) { b.classList.toggle("tg-on", b === event.target); });
    daily.data.datasets = data.by[by].datasets.map(function (ds) {
      return { label: ds.label, data: tollgateNumbers(ds.data), raw: ds.data };
    });
    daily.update();
  });
  window.tollgateCharts.providers = new Chart(document.getElementById("tg-provider-chart"), {
    type: "doughnut",
    data: { labels: data.providers.labels, datasets: [{ data: tollgateNumbers(data.providers.data), raw: data.providers.data }] },
    options: { animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { tooltip: { callbacks: { label: function (ctx) { return ctx.label + ": $" + ctx.dataset.raw[ctx.dataIndex]; } } } } }
  });
}

function tollgateUsage(dataId) {
  var data = tollgateData(dataId);
  tollgateStackedBar("tg-usage-chart", data.labels, [{ label: "cost (USD)", data: data.cost }], "usage");
}

function tollgateOperator(dataId) {
  var rows = tollgateData(dataId);
  tollgateStackedBar("tg-tenant-chart", rows.map(function (r) { return r.slug; }),
    [{ label: "cost (USD)", data: rows.map(function (r) { return String(r.cost); }) }], "tenants");
}
