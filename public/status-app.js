// The status page: asks for the token once per tab, fetches the window's data every 15 s and
// renders it. Read-only: nothing here changes the router.
import { drawAck, drawRoutes, drawStatuses } from './status-charts.js';
import { WINDOW_LABELS, bucketLabel, dateTime } from './status-format.js';
import {
  renderAckTable, renderCircuit, renderDeadLetters, renderJobsTable, renderQueue, renderRepositories,
  renderRouteTable, renderStatusTable, renderSummary,
} from './status-tables.js';

const ENDPOINT = '/.netlify/functions/api-webhook-status';
const TOKEN_KEY = 'webhook-router-status-token';
const REFRESH_MS = 15_000;
const WINDOWS = ['1h', '24h', '7d'];

const $ = (id) => document.getElementById(id);
let timer = null;
let loading = false;
// A window chosen while a load is under way is loaded right after it.
let again = false;

function currentWindow() {
  const chosen = new URLSearchParams(location.search).get('window');
  return WINDOWS.includes(chosen) ? chosen : '24h';
}

function showLogin(message = '') {
  clearTimeout(timer);
  $('dashboard').hidden = true;
  $('error').hidden = true;
  $('change-token').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('token').value = '';
  $('token').focus();
}

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = false;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(load, REFRESH_MS);
}

function render(data) {
  data.bucketText = bucketLabel(data.bucket_seconds);
  const windowText = WINDOW_LABELS[data.window];
  $('login').hidden = true;
  $('error').hidden = true;
  $('change-token').hidden = false;
  $('dashboard').hidden = false;

  renderSummary($('summary'), data);

  const empty = Number(data.deliveries.total) === 0;
  $('deliveries-empty').hidden = !empty;
  $('deliveries-empty').textContent = `No deliveries in the last ${windowText}.`;
  $('deliveries-body').hidden = empty;
  if (!empty) {
    $('routes-caption').textContent =
      `Deliveries per ${data.bucketText} by how the receiver handled them, over the last ${windowText}.`;
    $('status-caption').textContent = `Deliveries per ${data.bucketText} by the HTTP status GitHub was answered.`;
    $('chart-routes').setAttribute('aria-label', `Line chart: deliveries per ${data.bucketText} by route. The table below has the numbers.`);
    $('chart-status').setAttribute('aria-label', `Line chart: deliveries per ${data.bucketText} by HTTP status. The table below has the numbers.`);
    $('chart-ack').setAttribute('aria-label', 'Bar chart: p50 and p95 ack time per route. The table below has the numbers.');
    drawRoutes($('chart-routes'), data);
    drawStatuses($('chart-status'), data);
    drawAck($('chart-ack'), data);
    renderRouteTable($('table-routes'), data);
    renderStatusTable($('table-status'), data);
    renderAckTable($('table-ack'), data);
  }

  renderQueue($('queue'), data.queue);
  $('jobs-empty').hidden = data.jobs.length > 0;
  $('jobs-empty').textContent = `No jobs queued, running or finished in the last ${windowText}.`;
  $('table-jobs').parentElement.hidden = data.jobs.length === 0;
  renderJobsTable($('table-jobs'), data.jobs);

  renderDeadLetters($('dead-summary'), $('table-dead'), data.dead_letters, windowText);
  renderCircuit($('circuit'), data.circuit);

  $('repos-empty').hidden = data.repositories.length > 0;
  $('repos-empty').textContent = `No repository sent a delivery in the last ${windowText}.`;
  $('table-repos').parentElement.hidden = data.repositories.length === 0;
  renderRepositories($('table-repos'), data.repositories);

  $('updated').textContent = `Last ${windowText}, in ${data.bucketText} buckets · updated ${dateTime(data.generated_at)} · refreshes every 15 s`;
}

async function load() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return showLogin();
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  try {
    let response;
    try {
      response = await fetch(`${ENDPOINT}?window=${encodeURIComponent(currentWindow())}`, {
        headers: { authorization: `Bearer ${token}` },
        cache: 'no-store',
      });
    } catch (error) {
      showError(`Could not reach the status endpoint (${error.message}); trying again in 15 s.`);
      return schedule();
    }
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin('That token was refused (401 Unauthorized). Check STATUS_PAGE_TOKEN and try again.');
    }
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      showError(body?.error ?? `The status endpoint answered ${response.status}.`);
      return schedule();
    }
    render(body);
    schedule();
  } finally {
    loading = false;
    if (again) {
      again = false;
      load();
    }
  }
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('login-error').textContent = '';
  load();
});

$('change-token').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
});

for (const radio of document.querySelectorAll('input[name="window"]')) {
  radio.checked = radio.value === currentWindow();
  radio.addEventListener('change', () => {
    const url = new URL(location.href);
    url.searchParams.set('window', radio.value);
    history.replaceState(null, '', url);
    load();
  });
}

load();
