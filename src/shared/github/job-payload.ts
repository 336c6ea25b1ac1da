import type { Delivery } from './delivery.ts';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const SHORT_TEXT = 255;

/** Copies `keys` of `source` that are numbers, booleans, nulls or strings of at most `maxText`. */
function pick(source: unknown, keys: readonly string[], maxText = SHORT_TEXT): Obj | undefined {
  if (!isObj(source)) return undefined;
  const out: Obj = {};
  for (const key of keys) {
    const value = source[key];
    if (typeof value === 'number' || typeof value === 'boolean' || value === null) out[key] = value;
    else if (typeof value === 'string' && value.length <= maxText) out[key] = value;
  }
  return out;
}

/** The parser accepts refs up to this (src/shared/github/delivery.ts); the job keeps them whole. */
const MAX_REF = 1024;

function compact(object: Obj): Obj {
  const out: Obj = {};
  for (const key of Object.keys(object)) {
    const value = object[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/**
 * The part of a GitHub payload a queued job keeps, at the same paths: what the drain reads and
 * what the design document's monitoring queries read (`payload #>> '{data,repository,full_name}'`,
 * `payload #>> '{data,action}'`). A typical pull_request body is 21 KB and may be 6 MB; this is
 * under 1 KB, written once and read by every claim.
 */
export function jobDataOf(delivery: Delivery): Obj {
  const p = delivery.payload as unknown as Obj;
  const common = compact({
    action: delivery.action ?? undefined,
    repository: pick(p.repository, delivery.event === 'push' ? ['id', 'full_name', 'pushed_at'] : ['id', 'full_name']),
    sender: pick(p.sender, ['login']),
  });
  switch (delivery.event) {
    case 'pull_request':
      return compact({ ...common, number: p.number, pull_request: pick(p.pull_request, ['number', 'state', 'merged', 'draft']) });
    case 'issues':
      return compact({ ...common, issue: pick(p.issue, ['number', 'state']) });
    case 'push':
      return compact({
        ...common,
        ...pick(p, ['ref'], MAX_REF),
        ...pick(p, ['before', 'after', 'created', 'deleted', 'forced']),
        head_commit: p.head_commit === null ? null : pick(p.head_commit, ['id', 'timestamp']),
      });
    case 'repository':
    case 'ping':
      return common;
  }
}

/** A queued job's payload: the delivery's facts, never its body. */
export function jobPayloadOf(delivery: Delivery, receivedAt: string): Obj {
  const p = delivery.payload as unknown as Obj;
  return compact({
    event: delivery.event,
    action: delivery.action,
    delivery_id: delivery.id,
    data: jobDataOf(delivery),
    // Push payloads list their commits; a coalesced job adds up the counts of its pushes.
    commit_count: delivery.event === 'push' && Array.isArray(p.commits) ? p.commits.length : undefined,
    received_at: receivedAt,
  });
}
