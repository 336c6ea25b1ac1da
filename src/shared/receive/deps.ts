import type { Config } from '../config.ts';
import type { Database } from '../db/port.ts';
import type { EventSender } from '../inngest/sender.ts';

export type ReceiveMode =
  /** The hybrid receiver: quick work inline, the rest queued for the drain. */
  | 'hybrid'
  /** The original synchronous function: every event's work done before answering. */
  | 'sync';

export interface ReceiveDeps {
  config: Pick<Config, 'githubWebhookSecrets' | 'workspaceThreshold' | 'quickEvents' | 'maxBodyBytes' | 'pushDebounceSeconds'> & {
    drain: Pick<Config['drain'], 'maxRetries' | 'fanoutConcurrency' | 'kickHoldSeconds'>;
  };
  mode: ReceiveMode;
  /** null when no database is configured: answered as unavailable. */
  db: Database | null;
  sender: EventSender;
  /**
   * Starts a drain. Called only when the enqueue found no drain running (a burst of queued
   * deliveries starts one); handed to `waitUntil`, never awaited; its rejection is logged.
   */
  kickDrain?: () => Promise<void>;
  waitUntil?: (promise: Promise<unknown>) => void;
  /**
   * Hex SHA-256 of the payload's bytes (the dedup key); WebCrypto's when absent. Node entries pass
   * node:crypto's, which hashes in place: WebCrypto's digest is a job on the thread pool and cost
   * more than the hashing itself.
   */
  hashBody?: (bytes: Uint8Array<ArrayBuffer>) => string | Promise<string>;
  now?: () => number;
  log?: (entry: Record<string, unknown>) => void;
  /** Overrides RECEIVE_BUDGET_MS (tests of a stalled database). */
  receiveBudgetMs?: number;
}
