// The charts, drawn with uPlot (public/vendor/, from npm). Series differ by dash pattern and
// label as well as colour, and every chart has a table with the same numbers beside it.
import { ROUTES, ROUTE_LABELS } from './status-format.js';

/* global uPlot */

// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
const COLOURS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#000000'];
const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [1, 4], [14, 6], [4, 4]];

const charts = new Map();

function widthOf(target) {
  return Math.max(280, Math.floor(target.clientWidth));
}

function draw(target, options, data) {
  charts.get(target)?.destroy();
  const chart = new uPlot({ width: widthOf(target), height: 240, ...options }, data, target);
  charts.set(target, chart);
}

// Charts follow their container (a phone turned, a window resized).
const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) charts.get(entry.target)?.setSize({ width: widthOf(entry.target), height: 240 });
});

function line(label, i) {
  return {
    label,
    stroke: COLOURS[i % COLOURS.length],
    dash: DASHES[i % DASHES.length],
    width: 2,
    points: { show: true, size: 4 },
    value: (u, v) => (v === null || v === undefined ? '–' : String(v)),
  };
}

function timeChart(target, data, seriesLabels, values, yLabel) {
  const xs = data.deliveries.buckets.map((iso) => new Date(iso).getTime() / 1000);
  draw(target, {
    series: [{ label: 'bucket start' }, ...seriesLabels.map(line)],
    scales: { x: { time: true } },
    axes: [{}, { label: yLabel, size: 60 }],
    cursor: { points: { size: 6 } },
  }, [xs, ...values]);
  resizer.observe(target);
}

export function drawRoutes(target, data) {
  timeChart(target, data, ROUTES.map((r) => ROUTE_LABELS[r]), ROUTES.map((r) => data.deliveries.by_route[r]),
    `deliveries per ${data.bucketText}`);
}

export function drawStatuses(target, data) {
  const codes = Object.keys(data.deliveries.by_status).sort();
  timeChart(target, data, codes.map((c) => `HTTP ${c}`), codes.map((c) => data.deliveries.by_status[c]),
    `deliveries per ${data.bucketText}`);
}

/** p50 and p95 side by side for each route (grouped bars on a category axis). */
export function drawAck(target, data) {
  const routes = data.deliveries.routes;
  const xs = routes.map((_, i) => i);
  const bars = (align, i) => ({
    ...line(i === 0 ? 'p50 ms' : 'p95 ms', i),
    fill: `${COLOURS[i]}99`,
    points: { show: false },
    paths: uPlot.paths.bars({ size: [0.35, 48], align }),
  });
  draw(target, {
    series: [{ label: 'route', value: (u, i) => (i === null ? '–' : ROUTE_LABELS[routes[i]?.route] ?? '') }, bars(-1, 0), bars(1, 1)],
    scales: { x: { time: false, range: [-0.6, routes.length - 0.4] }, y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
    axes: [
      { splits: () => xs, values: (u, splits) => splits.map((i) => ROUTE_LABELS[routes[i]?.route] ?? ''), gap: 6 },
      { label: 'ms', size: 60 },
    ],
    cursor: { points: { show: false } },
  }, [xs, routes.map((r) => r.p50_ms), routes.map((r) => r.p95_ms)]);
  resizer.observe(target);
}
