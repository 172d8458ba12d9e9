// Draws the speed test charts with uPlot: per chart block (see chart.ts) charts over one time axis,
// download and upload in Mbit/s above, ping, jitter and the latency under load in ms below, and,
// when the tests ran against several servers, download and ping per server; each y-axis from zero.
// One point per test (a click opens it) or per time bucket's average (a click lists its tests).
// Dragging across either chart zooms both in on that stretch of time; "Reset zoom" (or a double
// click) shows the whole range again. While the pointer is away, the legends show the newest
// point's values; over a chart, the values under it. The data comes from a JSON block next to
// the charts, never from inline script. They are as wide as their box (and follow it when the
// window is resized or a phone is turned), and their colours are the stylesheet's --chart-*
// variables: when the system switches between light and dark, they are drawn again in the other
// palette. Each chart's box carries what it shows (data-x-min/max, data-y-min/max) for tests.
'use strict';

const darkScheme = window.matchMedia('(prefers-color-scheme: dark)');

/** The charts' colours, as admin.css defines them for the current scheme. */
function palette(element) {
  const style = window.getComputedStyle(element);
  const color = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return {
    download: color('--chart-download', '#1f5fbf'),
    upload: color('--chart-upload', '#1d7a46'),
    ping: color('--chart-ping', '#c77700'),
    jitter: color('--chart-jitter', '#7b4fb8'),
    loadedDown: color('--chart-loaded-down', '#8a5a00'),
    loadedUp: color('--chart-loaded-up', '#0f6e6e'),
    servers: [1, 2, 3, 4, 5, 6].map((n, i) =>
      color(
        `--chart-server-${n}`,
        ['#1f5fbf', '#c77700', '#1d7a46', '#b3261e', '#7b4fb8', '#555'][i],
      ),
    ),
    mark: color('--chart-mark', '#b3261e'),
    axis: color('--chart-axis', '#000'),
    grid: color('--chart-grid', 'rgba(0,0,0,0.07)'),
    background: color('--card', '#fff'),
  };
}

/** What each box of a chart block draws: its series (label, data field, line width) and unit. */
const PANES = {
  speeds: {
    title: 'Download and upload',
    scale: 'mbit',
    unit: 'Mbit/s',
    series: [
      ['Download', 'download', 2],
      ['Upload', 'upload', 2],
    ],
  },
  latency: {
    title: 'Ping and jitter',
    scale: 'ms',
    unit: 'ms',
    series: [
      ['Ping', 'ping', 1.5],
      ['Jitter', 'jitter', 1.5],
      ['While downloading', 'loadedDown', 1.5],
      ['While uploading', 'loadedUp', 1.5],
    ],
  },
  // One series per server (data.servers), on the servers' own time axis.
  serverSpeeds: {
    title: 'Download by server',
    scale: 'mbit',
    unit: 'Mbit/s',
    perServer: 'download',
  },
  serverPing: { title: 'Ping by server', scale: 'ms', unit: 'ms', perServer: 'ping' },
};

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

/** A y range from zero to a round value above the highest point (never empty). */
function fromZero(u, min, max) {
  return [0, uPlot.rangeNum(0, max > 0 ? max : 1, 0.1, true)[1]];
}

/** The time range "Reset zoom" returns to: the page's range, else the data's (a lone point ± 1 h). */
function fullRange(data) {
  if (data.window) return { min: data.window[0], max: data.window[1] };
  const first = data.t[0];
  const last = data.t[data.t.length - 1];
  return first === last ? { min: first - 3600, max: last + 3600 } : { min: first, max: last };
}

/** Under this width (a phone) the charts are lower and their axes narrower, leaving room for data. */
const NARROW = 500;

/** Where a click on the point at time `t` goes: the test, or the list of a bucket's tests. */
function pointLink(data, t) {
  if (data.links === false) return null;
  const index = data.t.indexOf(t);
  if (index >= 0 && data.ids[index]) return `/admin/speedtests/${data.ids[index]}`;
  if (!data.bucketSeconds) return null;
  const start = Math.floor(t / data.bucketSeconds) * data.bucketSeconds;
  const query = new window.URLSearchParams({
    from: new Date(start * 1000).toISOString(),
    to: new Date((start + data.bucketSeconds) * 1000).toISOString(),
  });
  return `/admin/speedtests?${query}`;
}

let groups = 0;

/**
 * Draws one block's charts; returns their removal. `redraw` is called when they must be drawn
 * anew; `state.x` keeps a zoom across that.
 */
function drawGroup(figure, data, state, redraw) {
  const panes = [...figure.querySelectorAll('[data-pane]')].filter(
    (pane) => PANES[pane.dataset.pane],
  );
  const reset = figure.querySelector('[data-chart-reset]');
  const colours = palette(figure);
  const first = panes[0];
  const narrow = first.clientWidth < NARROW;
  // Never wider than its box: on a phone that is the screen's width less the page's margins.
  const size = () => ({ width: Math.max(100, first.clientWidth), height: narrow ? 200 : 240 });
  const full = fullRange(data);
  const syncKey = `speedtest-chart-${++groups}`;
  const plots = [];
  let following = false;

  const isZoomed = (x) => Math.abs(x.min - full.min) > 1 || Math.abs(x.max - full.max) > 1;
  const resetZoom = () => {
    for (const plot of plots) plot.setScale('x', full);
  };
  // A zoom in one chart is a zoom in all of them, to the same stretch of time.
  const followX = (u) => {
    const { min, max } = u.scales.x;
    state.x = { min, max };
    if (reset) reset.hidden = !isZoomed(state.x);
    if (following) return;
    following = true;
    for (const plot of plots)
      if (plot !== u && (plot.scales.x.min !== min || plot.scales.x.max !== max))
        plot.setScale('x', { min, max });
    following = false;
  };
  // uPlot's legend shows the point under the pointer; away from the chart, the newest one.
  const showLatest = (u) => {
    const newest = u.data[0].length - 1;
    if (newest >= 0 && u.cursor.idx == null) u.setLegend({ idx: newest }, false);
  };
  const axis = {
    stroke: colours.axis,
    grid: { stroke: colours.grid },
    ticks: { stroke: colours.grid },
  };
  const points = { show: data.t.length < 200, fill: colours.background };
  const markIndex = data.mark === null ? -1 : data.ids.indexOf(data.mark);

  for (const pane of panes) {
    const kind = PANES[pane.dataset.pane];
    if (kind.perServer && !data.servers) continue;
    // A pane's time axis and series: the tests' own, or one series per server on theirs.
    const t = kind.perServer ? data.servers.t : data.t;
    const lines = kind.perServer
      ? data.servers.names.map((name, i) => [
          name,
          data.servers[kind.perServer][i],
          1.5,
          colours.servers[i % colours.servers.length],
        ])
      : kind.series.map(([label, field, width]) => [label, data[field], width, colours[field]]);
    const mark = markIndex < 0 ? -1 : t.indexOf(data.t[markIndex]);
    const value = (u, v) => (v == null ? '–' : `${v.toFixed(1)} ${kind.unit}`);
    const options = {
      ...size(),
      title: kind.title,
      plugins: [markerPlugin(mark, colours.mark)],
      cursor: {
        sync: { key: syncKey, setSeries: false },
        drag: { x: true, y: false, dist: 5 },
        // A double click shows the whole range again, like the Reset button.
        bind: {
          dblclick: () => () => {
            resetZoom();
            return null;
          },
        },
      },
      scales: {
        // A single point would otherwise get a range of years around it.
        x: {
          time: true,
          range: (u, min, max) => (min === max ? [min - 3600, max + 3600] : [min, max]),
        },
        [kind.scale]: { range: fromZero },
      },
      series: [
        {},
        ...lines.map(([label, , width, stroke]) => ({
          label,
          scale: kind.scale,
          stroke,
          width,
          value,
          points,
          // A server's tests are its points only: the line goes on across the other servers'.
          spanGaps: Boolean(kind.perServer),
        })),
      ],
      axes: [
        { ...axis },
        {
          ...axis,
          scale: kind.scale,
          label: kind.unit,
          // The same width in both charts, so their time axes line up.
          size: narrow ? 50 : 70,
          labelSize: narrow ? 18 : 30,
        },
      ],
      hooks: {
        ready: [showLatest],
        setCursor: [showLatest],
        setScale: [(u, key) => key === 'x' && followX(u)],
        draw: [
          (u) => {
            const y = u.scales[kind.scale];
            pane.setAttribute('data-x-min', String(u.scales.x.min));
            pane.setAttribute('data-x-max', String(u.scales.x.max));
            pane.setAttribute('data-y-min', String(y.min));
            pane.setAttribute('data-y-max', String(y.max));
          },
        ],
      },
    };
    const plot = new uPlot(options, [t, ...lines.map(([, values]) => values)], pane);
    plot.over.addEventListener('click', () => {
      const index = plot.cursor.idx;
      const link = index == null ? null : pointLink(data, t[index]);
      if (link) window.location.href = link;
    });
    plots.push(plot);
    pane.setAttribute('data-drawn', String(t.length));
    pane.setAttribute('data-series', lines.map(([label]) => label).join('|'));
    pane.setAttribute('data-scheme', darkScheme.matches ? 'dark' : 'light');
  }
  const start = state.x ?? full;
  for (const plot of plots) plot.setScale('x', start);
  reset?.addEventListener('click', resetZoom);

  // Follows its box's width (a resized window, a turned phone); across NARROW, drawn anew.
  const resized = new ResizeObserver(() => {
    if (first.clientWidth < NARROW !== narrow) return redraw();
    const next = size();
    for (const plot of plots)
      if (next.width !== plot.width || next.height !== plot.height) plot.setSize(next);
  });
  resized.observe(first);
  return () => {
    resized.disconnect();
    reset?.removeEventListener('click', resetZoom);
    for (const plot of plots) plot.destroy();
  };
}

for (const figure of document.querySelectorAll('figure.chart')) {
  const source = figure.querySelector('.chart-data');
  if (!source) continue;
  const data = JSON.parse(source.textContent);
  if (data.t.length === 0) {
    // Nothing to draw, and said so in the caption; scripts waiting for the charts need not wait.
    for (const pane of figure.querySelectorAll('[data-pane]')) pane.setAttribute('data-drawn', '0');
    continue;
  }
  const state = { x: null };
  let remove = () => {};
  const redraw = () => {
    remove();
    remove = drawGroup(figure, data, state, redraw);
  };
  redraw();
  // Colours on a canvas do not follow the stylesheet by themselves: draw them again.
  darkScheme.addEventListener('change', redraw);
}
