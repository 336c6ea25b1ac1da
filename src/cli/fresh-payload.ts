import { randomBytes } from 'node:crypto';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
let lastMs = 0;

/** Strictly increasing milliseconds in this process, so two bodies never share a timestamp. */
function freshMs(): number {
  lastMs = Math.max(Date.now(), lastMs + 1);
  return lastMs;
}

const sha = () => randomBytes(20).toString('hex');

/**
 * Makes an example payload look like a new event, as GitHub's own bodies are always unique: fresh
 * timestamps, and for pushes and pull requests a fresh head commit. The receiver treats a body it
 * has seen before as a duplicate whatever its GUID, so resending one example must change it.
 */
export function freshPayload(event: string, payload: Obj): Obj {
  const ms = freshMs();
  const iso = new Date(ms).toISOString();
  if (isObj(payload.repository)) {
    payload.repository.updated_at = iso;
    // Push payloads give pushed_at in epoch seconds; ms keeps successive sends ordered.
    if (event === 'push') payload.repository.pushed_at = ms / 1000;
  }
  switch (event) {
    case 'push': {
      const after = sha();
      payload.after = after;
      if (isObj(payload.head_commit)) Object.assign(payload.head_commit, { id: after, timestamp: iso });
      break;
    }
    case 'pull_request':
      if (isObj(payload.pull_request)) {
        payload.pull_request.updated_at = iso;
        if (isObj(payload.pull_request.head)) payload.pull_request.head.sha = sha();
      }
      break;
    case 'issues':
      if (isObj(payload.issue)) payload.issue.updated_at = iso;
      break;
    case 'ping':
      if (isObj(payload.hook)) payload.hook.updated_at = iso;
      break;
  }
  return payload;
}
