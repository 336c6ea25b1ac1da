import type { Database } from '../db/port.ts';
import type { Delivery } from '../github/delivery.ts';
import { executePlan, type ExecutionResult } from '../handlers/execute.ts';
import { planWork, type WorkPlan } from '../handlers/plan.ts';
import { withTimeout } from '../timeout.ts';
import type { ReceiveDeps } from './deps.ts';
import { kick, newJob } from './enqueue.ts';
import { finishInline, recordDelivery } from './store.ts';

export type Respond = (status: number, body: Record<string, unknown>) => Response;

/** Inline work past this is abandoned and the delivery queued (the Inngest SDK retries for ~2 s). */
const INLINE_BUDGET_MS = 3_000;
/**
 * How long the safety-net job of inline work waits before a drain may run it: far past the inline
 * budget, so it only runs when the receiver died before finishing (the minute sweep picks it up).
 */
const SAFETY_NET_SECONDS = 60;

export interface InlineWork {
  delivery: Delivery;
  facts: {
    deliveryId: string;
    bodySha256: string | null;
    event: string;
    action: string | null;
    repository: string | null;
    repositoryId: number | null;
    workspaceCount: number;
  };
  workspaceIds: string[];
  elapsed: () => number;
}

function inlineTimedOut(budgetMs: number): ExecutionResult {
  return {
    staleMarked: 0,
    eventsSent: 0,
    succeededWorkspaceIds: [],
    failedWorkspaceIds: ['*'],
    failures: [{ cause: 'outage', error: `inline work exceeded ${budgetMs} ms` }],
  };
}

/** The work's plan; running it is executePlan's (so a timeout can be put around the running). */
function planFor(work: InlineWork, source: string): Promise<WorkPlan> {
  return planWork({
    event: work.delivery.event,
    action: work.delivery.action,
    source,
    deliveryIds: [work.delivery.id],
    repository: { id: work.facts.repositoryId, fullName: work.facts.repository },
    data: work.delivery.payload as unknown as Record<string, unknown>,
    commitCount: null,
    workspaceIds: work.workspaceIds,
  });
}

function execute(plan: WorkPlan, deps: ReceiveDeps, db: Database): Promise<ExecutionResult> {
  return executePlan(plan, { db, sender: deps.sender, concurrency: deps.config.drain.fanoutConcurrency });
}

/**
 * A quick event at or under the threshold. It is recorded first, with a job no drain may run yet,
 * so two copies of one body (a repository hook and an organization hook at once) cannot both do the
 * work, and a receiver that dies mid-work leaves a job behind. Then the work; then the job is
 * deleted (an inline delivery leaves no job), or (the work failed or overran its budget) queued at
 * once for the drain.
 */
export async function runInline(work: InlineWork, deps: ReceiveDeps, respond: Respond): Promise<Response> {
  const db = deps.db as Database;
  const { delivery, facts } = work;
  const reserved = await recordDelivery(db, {
    ...facts,
    route: 'inline',
    statusCode: 200,
    responseMs: work.elapsed(),
    job: newJob(delivery, deps, SAFETY_NET_SECONDS),
  });
  if (reserved.duplicate) return respond(200, { duplicate: true });
  const jobId = reserved.jobId as string;
  // A drain that runs the job derives a push's event ids from the job; the inline work must match.
  const source = delivery.event === 'push' ? jobId : delivery.id;
  const plan = await planFor(work, source);
  const result = await withTimeout(execute(plan, deps, db), INLINE_BUDGET_MS, () => inlineTimedOut(INLINE_BUDGET_MS));
  const succeeded = result.failures.length === 0;
  const finished = await finishInline(db, {
    deliveryId: delivery.id,
    jobId,
    succeeded,
    responseMs: work.elapsed(),
    kickHoldSeconds: deps.config.drain.kickHoldSeconds,
  });
  if (succeeded) {
    return respond(200, { route: 'inline', workspaces: facts.workspaceCount, eventsSent: result.eventsSent, cachesInvalidated: result.staleMarked });
  }
  // Nothing lost: the drain runs the job now (event ids make the re-send safe).
  deps.log?.({ msg: 'inline work failed', delivery: delivery.id, errors: result.failures.map((f) => f.error) });
  kick({ kick: finished.kick, jobId }, deps);
  return respond(202, { route: 'queued', jobId, coalesced: false, workspaces: facts.workspaceCount });
}

/**
 * The original synchronous function: the work before the answer, recorded only when it succeeded
 * (502 and nothing recorded otherwise, so GitHub's redelivery runs the work again).
 */
export async function runSync(work: InlineWork, deps: ReceiveDeps, respond: Respond): Promise<Response> {
  const db = deps.db as Database;
  const result = await execute(await planFor(work, work.delivery.id), deps, db);
  if (result.failures.length > 0) {
    deps.log?.({ msg: 'inline work failed', delivery: work.delivery.id, errors: result.failures.map((f) => f.error) });
    return respond(502, { error: `Inline work failed: ${result.failures.map((f) => f.error).join('; ')}` });
  }
  const recorded = await recordDelivery(db, { ...work.facts, route: 'inline', statusCode: 200, responseMs: work.elapsed() });
  if (recorded.duplicate) return respond(200, { duplicate: true });
  return respond(200, { route: 'inline', workspaces: work.facts.workspaceCount, eventsSent: result.eventsSent, cachesInvalidated: result.staleMarked });
}
