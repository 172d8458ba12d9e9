// Draws the speed test charts with uPlot: download and upload in Mbit/s on the left axis, ping in
// ms on the right, one point per test. Clicking a point opens that test. The data comes from a
// JSON block next to the chart (see chart.ts), never from inline script.
'use strict';

function markerPlugin(index) {
  return {
    hooks: {
      draw(u) {
        if (index < 0) return;
        const x = Math.round(u.valToPos(u.data[0][index], 'x', true));
        const { ctx } = u;
        ctx.save();
        ctx.strokeStyle = '#b3261e';
        ctx.setLineDash([4, 4]);
        ctx.beginPath();
        ctx.moveTo(x, u.bbox.top);
        ctx.lineTo(x, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.restore();
      },
    },
  };
}

function drawChart(container) {
  const data = JSON.parse(container.parentElement.querySelector('.chart-data').textContent);
  if (data.t.length === 0) return;
  const width = () => Math.max(300, container.clientWidth);
  const options = {
    width: width(),
    height: 300,
    plugins: [markerPlugin(data.ids.indexOf(data.mark))],
    scales: {
      // A single point would otherwise get a range of years around it.
      x: {
        time: true,
        range: (u, min, max) => (min === max ? [min - 3600, max + 3600] : [min, max]),
      },
      mbit: { auto: true },
      ms: { auto: true },
    },
    series: [
      {},
      {
        label: 'Download',
        scale: 'mbit',
        stroke: '#1f5fbf',
        width: 2,
        value: (u, v) => (v == null ? '–' : `${v.toFixed(1)} Mbit/s`),
        points: { show: data.t.length < 200 },
      },
      {
        label: 'Upload',
        scale: 'mbit',
        stroke: '#1d7a46',
        width: 2,
        value: (u, v) => (v == null ? '–' : `${v.toFixed(1)} Mbit/s`),
        points: { show: data.t.length < 200 },
      },
      {
        label: 'Ping',
        scale: 'ms',
        stroke: '#c77700',
        width: 1,
        dash: [5, 3],
        value: (u, v) => (v == null ? '–' : `${v.toFixed(1)} ms`),
        points: { show: false },
      },
    ],
    axes: [
      {},
      { scale: 'mbit', label: 'Mbit/s', size: 70 },
      { scale: 'ms', label: 'ms', side: 1, grid: { show: false } },
    ],
  };
  const plot = new uPlot(options, [data.t, data.download, data.upload, data.ping], container);
  plot.over.addEventListener('click', () => {
    const index = plot.cursor.idx;
    if (index != null && data.ids[index])
      window.location.href = `/admin/speedtests/${data.ids[index]}`;
  });
  new ResizeObserver(() => plot.setSize({ width: width(), height: 300 })).observe(container);
  container.setAttribute('data-drawn', String(data.t.length));
}

for (const container of document.querySelectorAll('[data-chart="speedtests"]'))
  drawChart(container);
