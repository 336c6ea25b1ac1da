// The page's numbers as DOM: cards, fact lists and tables. Data is always set as text, never HTML.
import { ROUTES, ROUTE_LABELS, age, bucketTime, dateTime, fromNow, num } from './status-format.js';

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'text') node.textContent = value;
    else if (name === 'className') node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

/**
 * Fills `table` with a caption, a header row and body rows. A column is
 * { label, value(row) → string | Node, numeric?, header? } where header marks the row's own header cell.
 */
export function fillTable(table, caption, columns, rows) {
  table.replaceChildren(
    el('caption', { text: caption }),
    el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', { scope: 'col', className: c.numeric ? 'num' : '' }, c.label)))),
    el('tbody', {}, ...rows.map((row) => el('tr', {}, ...columns.map((c) => {
      const value = c.value(row);
      const attrs = { className: c.numeric ? 'num' : (c.className ?? '') };
      return c.header ? el('th', { scope: 'row', ...attrs }, value) : el('td', attrs, value);
    })))),
  );
}

function fillCards(list, cards) {
  list.replaceChildren(...cards.map(([term, value, className]) =>
    el('div', {}, el('dt', { text: term }), el('dd', className ? { className } : {}, value))));
}

function state(text, kind) {
  return el('span', { className: `state state-${kind}`, text });
}

export function renderSummary(list, data) {
  const { deliveries, queue, dead_letters: dead, circuit } = data;
  const duplicates = deliveries.routes.find((r) => r.route === 'duplicate')?.deliveries ?? 0;
  fillCards(list, [
    ['Deliveries in window', num(deliveries.total)],
    ['Duplicates in window', num(duplicates)],
    ['Queued now', num(queue.queued)],
    ['Processing now', num(queue.processing)],
    ['Oldest queued', age(queue.oldest_queued_age_seconds)],
    ['Expired leases', num(queue.expired_leases), queue.expired_leases > 0 ? 'state-bad' : ''],
    ['Dead letters', num(dead.total), dead.total > 0 ? 'state-bad' : ''],
    ['Inngest circuit', state(circuit.state.replace('_', ' '), circuit.state)],
  ]);
}

/** Bucket rows with their index into the series, the current bucket at the top. */
function newestFirst(buckets) {
  return buckets.map((start, i) => ({ start, i })).reverse();
}

export function renderRouteTable(table, data) {
  const { deliveries } = data;
  fillTable(table, `Deliveries per ${data.bucketText}, by route (bucket start, local time; newest first)`, [
    { label: 'Bucket', header: true, value: (r) => bucketTime(r.start, data.window) },
    ...ROUTES.map((route) => ({ label: ROUTE_LABELS[route], numeric: true, value: (r) => num(deliveries.by_route[route][r.i]) })),
    { label: 'Total', numeric: true, value: (r) => num(ROUTES.reduce((sum, route) => sum + deliveries.by_route[route][r.i], 0)) },
  ], newestFirst(deliveries.buckets));
}

export function renderStatusTable(table, data) {
  const { deliveries } = data;
  const codes = Object.keys(deliveries.by_status).sort();
  fillTable(table, `Deliveries per ${data.bucketText}, by HTTP status answered (newest first)`, [
    { label: 'Bucket', header: true, value: (r) => bucketTime(r.start, data.window) },
    ...codes.map((code) => ({ label: code, numeric: true, value: (r) => num(deliveries.by_status[code][r.i]) })),
  ], newestFirst(deliveries.buckets));
}

export function renderAckTable(table, data) {
  fillTable(table, 'Ack time per route over the window (ms; percentiles within 10 %)', [
    { label: 'Route', header: true, value: (r) => ROUTE_LABELS[r.route] },
    { label: 'Deliveries', numeric: true, value: (r) => num(r.deliveries) },
    { label: 'Average', numeric: true, value: (r) => num(r.avg_ms) },
    { label: 'p50', numeric: true, value: (r) => num(r.p50_ms) },
    { label: 'p95', numeric: true, value: (r) => num(r.p95_ms) },
  ], data.deliveries.routes);
}

export function renderQueue(list, queue) {
  fillCards(list, [
    ['Queued', num(queue.queued)],
    ['Ready to run', num(queue.ready)],
    ['Processing', num(queue.processing)],
    ['Expired leases', num(queue.expired_leases), queue.expired_leases > 0 ? 'state-bad' : ''],
    ['Oldest queued', age(queue.oldest_queued_age_seconds)],
  ]);
}

export function renderJobsTable(table, jobs) {
  fillTable(table, 'Jobs per type: queued and processing now; completed and failed in the window, with run time (ms)', [
    { label: 'Type', header: true, value: (r) => r.type },
    { label: 'Queued', numeric: true, value: (r) => num(r.queued) },
    { label: 'Processing', numeric: true, value: (r) => num(r.processing) },
    { label: 'Completed', numeric: true, value: (r) => num(r.completed) },
    { label: 'Avg', numeric: true, value: (r) => num(r.completed_avg_ms) },
    { label: 'p95', numeric: true, value: (r) => num(r.completed_p95_ms) },
    { label: 'Failed', numeric: true, value: (r) => num(r.failed) },
    { label: 'Failed avg', numeric: true, value: (r) => num(r.failed_avg_ms) },
  ], jobs);
}

function replayCell(command) {
  const code = el('code', { text: command });
  const button = el('button', { type: 'button', 'aria-label': `Copy: ${command}`, text: 'Copy' });
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(command);
      button.textContent = 'Copied';
    } catch {
      // No clipboard (an http:// page that is not localhost): select it for Ctrl+C instead.
      getSelection()?.selectAllChildren(code);
      button.textContent = 'Selected';
    }
    setTimeout(() => (button.textContent = 'Copy'), 2000);
  });
  return el('div', { className: 'replay' }, code, button);
}

export function renderDeadLetters(summary, table, dead, windowText) {
  summary.textContent = dead.total === 0
    ? 'No dead letters: every job either completed or is still being retried.'
    : `${num(dead.total)} job(s) in the dead letter (${num(dead.in_window)} failed in the last ${windowText}); ` +
      `the newest ${dead.latest.length} below. Replaying one gives it a fresh retry budget.`;
  table.parentElement.hidden = dead.total === 0;
  fillTable(table, 'Dead letters, newest first', [
    { label: 'Job', header: true, value: (r) => el('code', { text: r.id }) },
    { label: 'Type', value: (r) => r.type },
    { label: 'Repository', value: (r) => r.repository ?? '–' },
    { label: 'Error', className: 'error-text', value: (r) => r.error ?? '–' },
    { label: 'Failed at', value: (r) => dateTime(r.failed_at) },
    { label: 'Replay', value: (r) => replayCell(r.replay_command) },
  ], dead.latest);
}

export function renderCircuit(list, circuit) {
  const explain = {
    closed: 'closed: Inngest sends go through',
    open: 'open: sends are paused and jobs wait; no retry is spent',
    half_open: 'half open: one probe send is under way',
  }[circuit.state] ?? circuit.state;
  const facts = [
    ['State', state(explain, circuit.state)],
    ['Consecutive failures', num(circuit.consecutive_failures)],
    ['Last error', circuit.last_error ?? '–'],
    ['Opened at', dateTime(circuit.opened_at)],
    ['Next probe', circuit.state === 'open'
      ? `${dateTime(circuit.probe_at)} (${fromNow(circuit.probe_at)}; the first drain after it sends one probe)`
      : circuit.probing ? 'under way now' : '–'],
  ];
  list.replaceChildren(...facts.flatMap(([term, value]) => [el('dt', { text: term }), el('dd', {}, value)]));
}

export function renderRepositories(table, repositories) {
  fillTable(table, 'Repositories with the most deliveries in the window, with the most workspaces a delivery reached', [
    { label: 'Repository', header: true, value: (r) => r.repository },
    { label: 'Deliveries', numeric: true, value: (r) => num(r.deliveries) },
    { label: 'Queued', numeric: true, value: (r) => num(r.queued) },
    { label: 'Inline', numeric: true, value: (r) => num(r.inline) },
    { label: 'Workspaces', numeric: true, value: (r) => num(r.max_workspaces) },
  ], repositories);
}
