// Labels and number/time formats shared by the tables and the charts.

export const ROUTES = ['inline', 'queued', 'coalesced', 'duplicate', 'no_workspace', 'ignored'];

export const ROUTE_LABELS = {
  inline: 'inline',
  queued: 'queued',
  coalesced: 'coalesced',
  duplicate: 'duplicate',
  no_workspace: 'no workspace',
  ignored: 'ignored',
};

export const WINDOW_LABELS = { '1h': 'hour', '24h': '24 hours', '7d': '7 days' };

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** A count or a duration in ms; '–' when there is none. */
export function num(value) {
  return value === null || value === undefined ? '–' : number.format(Number(value));
}

export function bucketLabel(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  return `${seconds / 60} min`;
}

/** A bucket's start as people read it: the time, and the weekday when the window spans days. */
export function bucketTime(iso, window) {
  const options = window === '7d'
    ? { weekday: 'short', hour: '2-digit', minute: '2-digit' }
    : { hour: '2-digit', minute: '2-digit' };
  return new Date(iso).toLocaleString(undefined, options);
}

export function dateTime(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) : '–';
}

/** 3725 → "1 h 2 min". */
export function age(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.max(0, Math.round(Number(seconds)));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** "in 25 s" / "25 s ago" relative to now. */
export function fromNow(iso) {
  if (!iso) return '';
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  return seconds >= 0 ? `in ${age(seconds)}` : `${age(-seconds)} ago`;
}
