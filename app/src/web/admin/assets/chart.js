// Draws the speed test charts with uPlot: download and upload in Mbit/s on the left axis, ping in
// ms on the right, one point per test. Clicking a point opens that test. The data comes from a
// JSON block next to the chart (see chart.ts), never from inline script. The chart is as wide as
// its box (and follows it when the window is resized or a phone is turned), and its colours are
// the stylesheet's --chart-* variables: when the system switches between light and dark, it is
// drawn again in the other palette.
'use strict';

const darkScheme = window.matchMedia('(prefers-color-scheme: dark)');

/** The chart's colours, as admin.css defines them for the current scheme. */
function palette(element) {
  const style = window.getComputedStyle(element);
  const color = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return {
    download: color('--chart-download', '#1f5fbf'),
    upload: color('--chart-upload', '#1d7a46'),
    ping: color('--chart-ping', '#c77700'),
    mark: color('--chart-mark', '#b3261e'),
    axis: color('--chart-axis', '#000'),
    grid: color('--chart-grid', 'rgba(0,0,0,0.07)'),
    background: color('--card', '#fff'),
  };
}

function markerPlugin(index, colour) {
  return {
    hooks: {
      draw(u) {
        if (index < 0) return;
        const x = Math.round(u.valToPos(u.data[0][index], 'x', true));
        const { ctx } = u;
        ctx.save();
        ctx.strokeStyle = colour;
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

/** Under this width (a phone) the chart is lower and its axes narrower, leaving room for data. */
const NARROW = 500;

/** Draws one chart; returns its removal. `redraw` is called when the chart must be drawn anew. */
function drawChart(container, data, redraw) {
  const colours = palette(container);
  const narrow = container.clientWidth < NARROW;
  // Never wider than its box: on a phone that is the screen's width less the page's margins.
  const size = () => ({ width: Math.max(100, container.clientWidth), height: narrow ? 240 : 300 });
  const axis = {
    stroke: colours.axis,
    grid: { stroke: colours.grid },
    ticks: { stroke: colours.grid },
  };
  const points = { show: data.t.length < 200, fill: colours.background };
  const options = {
    ...size(),
    plugins: [markerPlugin(data.ids.indexOf(data.mark), colours.mark)],
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
        stroke: colours.download,
        width: 2,
        value: (u, v) => (v == null ? '–' : `${v.toFixed(1)} Mbit/s`),
        points,
      },
      {
        label: 'Upload',
        scale: 'mbit',
        stroke: colours.upload,
        width: 2,
        value: (u, v) => (v == null ? '–' : `${v.toFixed(1)} Mbit/s`),
        points,
      },
      {
        label: 'Ping',
        scale: 'ms',
        stroke: colours.ping,
        width: 1,
        dash: [5, 3],
        value: (u, v) => (v == null ? '–' : `${v.toFixed(1)} ms`),
        points: { show: false },
      },
    ],
    axes: [
      { ...axis },
      {
        ...axis,
        scale: 'mbit',
        label: 'Mbit/s',
        size: narrow ? 50 : 70,
        labelSize: narrow ? 18 : 30,
      },
      {
        ...axis,
        scale: 'ms',
        label: 'ms',
        side: 1,
        grid: { show: false },
        size: narrow ? 40 : 50,
        labelSize: narrow ? 18 : 30,
      },
    ],
  };
  const plot = new uPlot(options, [data.t, data.download, data.upload, data.ping], container);
  plot.over.addEventListener('click', () => {
    const index = plot.cursor.idx;
    if (index != null && data.ids[index])
      window.location.href = `/admin/speedtests/${data.ids[index]}`;
  });
  // Follows its box's width (a resized window, a turned phone); across NARROW, drawn anew.
  const resized = new ResizeObserver(() => {
    if (container.clientWidth < NARROW !== narrow) return redraw();
    const next = size();
    if (next.width !== plot.width || next.height !== plot.height) plot.setSize(next);
  });
  resized.observe(container);
  container.setAttribute('data-drawn', String(data.t.length));
  container.setAttribute('data-scheme', darkScheme.matches ? 'dark' : 'light');
  return () => {
    resized.disconnect();
    plot.destroy();
  };
}

for (const container of document.querySelectorAll('[data-chart="speedtests"]')) {
  const data = JSON.parse(container.parentElement.querySelector('.chart-data').textContent);
  if (data.t.length === 0) continue;
  let remove = () => {};
  const redraw = () => {
    remove();
    remove = drawChart(container, data, redraw);
  };
  redraw();
  // Colours on a canvas do not follow the stylesheet by themselves: draw it again.
  darkScheme.addEventListener('change', redraw);
}
