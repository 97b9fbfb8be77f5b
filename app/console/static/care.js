// The care pages' charts (Chart.js 4): the participant's process timeline with its view
// switch, and compliance per day. The data and the words come from JSON elements of the
// page (the CSP allows no inline script); each chart also has a table.
(function () {
  "use strict";

  function json(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  // Colour and point style per dimension: the style (and the legend's) tells them apart
  // without colour.
  var LOOKS = {
    emotion: ["#1f5fa8", "circle"],
    cognition: ["#b3261e", "rect"],
    attention: ["#1b7f3b", "triangle"],
    self: ["#7a3e9d", "rectRot"],
    motivation: ["#a45a00", "star"],
    behavior: ["#333333", "cross"],
  };

  function day(date) {
    return Date.parse(date + "T12:00:00Z");
  }

  function timeTick(value) {
    return new Date(value).toISOString().slice(0, 10);
  }

  function timelineDatasets(data, labels, view) {
    var points = view === "daily" ? data.daily : data.raw;
    var key = view === "daily" ? "need" : view;
    var sets = data.dimensions.map(function (dimension) {
      var look = LOOKS[dimension];
      return {
        type: "line",
        label: labels.dimensions[dimension] + (view === "daily" ? " (" + labels.daily + ")" : ""),
        dimension: dimension,
        borderColor: look[0],
        backgroundColor: look[0],
        pointStyle: look[1],
        pointRadius: 3,
        borderWidth: 1.5,
        spanGaps: true,
        yAxisID: "y",
        data: points.map(function (point) {
          var value = point[key][dimension];
          return { x: view === "daily" ? day(point.date) : Date.parse(point.at), y: value };
        }),
      };
    });
    sets.push({
      type: "scatter",
      label: labels.skills,
      yAxisID: "helpfulness",
      borderColor: "#000000",
      backgroundColor: "#ffd54f",
      pointStyle: data.deliveries.map(function (d) {
        return d.helpfulness === null ? "crossRot" : "triangle";
      }),
      pointRadius: 6,
      data: data.deliveries.map(function (d) {
        return { x: Date.parse(d.at), y: d.helpfulness === null ? 0 : d.helpfulness, delivery: d };
      }),
    });
    return sets;
  }

  function drawTimeline() {
    var canvas = document.getElementById("timeline-chart");
    var data = json("timeline-data");
    var labels = json("chart-labels");
    if (!canvas || !data || !labels) return;
    var chart = new Chart(canvas, {
      data: { datasets: timelineDatasets(data, labels, "need") },
      options: {
        animation: false,
        parsing: true,
        scales: {
          x: { type: "linear", ticks: { callback: timeTick } },
          y: { min: 0, max: 100, title: { display: true, text: labels.need } },
          helpfulness: {
            position: "right",
            min: 0,
            max: 10,
            grid: { drawOnChartArea: false },
            title: { display: true, text: labels.helpfulness },
          },
        },
        plugins: {
          legend: { labels: { usePointStyle: true } },
          tooltip: {
            callbacks: {
              title: function (items) {
                return items.length ? new Date(items[0].parsed.x).toISOString().slice(0, 16).replace("T", " ") + " UTC" : "";
              },
              label: function (item) {
                var delivery = item.raw.delivery;
                if (!delivery) return item.dataset.label + ": " + item.parsed.y;
                var rating = delivery.helpfulness === null ? labels.not_rated : delivery.helpfulness + "/10";
                return (delivery.skill || labels.concealed) + ": " + rating;
              },
            },
          },
        },
      },
    });
    document.querySelectorAll('input[name="timeline-view"]').forEach(function (input) {
      input.addEventListener("change", function () {
        chart.data.datasets = timelineDatasets(data, labels, input.value);
        chart.options.scales.y.title.text = input.value === "need" || input.value === "daily" ? labels.need : labels.score;
        chart.update();
      });
    });
  }

  function drawCompliance() {
    var canvas = document.getElementById("compliance-chart");
    var data = json("compliance-data");
    var labels = json("chart-labels");
    if (!canvas || !data || !labels) return;
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.map(function (d) { return d.date; }),
        datasets: [{
          label: labels.compliance,
          backgroundColor: "#1f5fa8",
          data: data.map(function (d) { return d.compliance === null ? null : Math.round(d.compliance * 100); }),
        }],
      },
      options: { animation: false, scales: { y: { min: 0, max: 100 } } },
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawTimeline();
    drawCompliance();
  });
})();
