import type { Database } from '../db/port.ts';

export const INNGEST_CIRCUIT = 'inngest';

export interface CircuitSettings {
  /**
   * How long a half-open probe is held before another drain may probe instead: at least the job
   * timeout, or a slow probe would be joined by a second one.
   */
  probeTimeoutSeconds: number;
}

export interface CircuitPermit {
  allowed: boolean;
  state: 'closed' | 'open' | 'half_open';
  /** When a refused caller may try again (the circuit half-opens). */
  retryAt: Date | null;
  consecutiveFailures: number;
}

/**
 * The breaker's state lives in Postgres because Edge Function invocations share no memory:
 * every drain sees the same open/closed decision.
 */
export class Circuit {
  constructor(
    private readonly db: Database,
    private readonly name: string,
    private readonly worker: string,
    private readonly settings: CircuitSettings,
  ) {}

  async acquire(): Promise<CircuitPermit> {
    const [row] = await this.db.call<{
      allowed: boolean;
      state: CircuitPermit['state'];
      retry_at: string | null;
      consecutive_failures: number;
    }>('acquire_circuit', {
      p_name: this.name,
      p_worker: this.worker,
      p_probe_timeout_seconds: this.settings.probeTimeoutSeconds,
    });
    if (!row) throw new Error('acquire_circuit returned no row');
    return {
      allowed: row.allowed,
      state: row.state,
      retryAt: row.retry_at ? new Date(row.retry_at) : null,
      consecutiveFailures: row.consecutive_failures,
    };
  }
}

export type Admission = { allowed: true } | { allowed: false; until: Date; reason: string };

/**
 * A claimed round's door to Inngest. The circuit is asked once, by the first job that has events
 * to send; the rest of the round shares the answer. A half-open circuit admits one job — the
 * probe — and puts the others back at once; they run after the probe's round has settled it.
 */
export class RoundGate {
  private permit: Promise<CircuitPermit> | null = null;
  private probeTaken = false;

  /**
   * @param probeWaitSeconds how long a job waits when another drain's probe is in flight: the
   *   cooldown, not the probe's timeout (a probe usually answers in a second; the timeout is only
   *   for one that never does).
   */
  constructor(
    private readonly circuit: Pick<Circuit, 'acquire'>,
    private readonly probeWaitSeconds = 0,
  ) {}

  async enter(): Promise<Admission> {
    this.permit ??= this.circuit.acquire();
    const permit = await this.permit;
    if (!permit.allowed) {
      const until =
        permit.state === 'half_open' || !permit.retryAt ? new Date(Date.now() + this.probeWaitSeconds * 1000) : permit.retryAt;
      return { allowed: false, until, reason: `Inngest circuit ${permit.state}; deferred` };
    }
    if (permit.state !== 'half_open') return { allowed: true };
    if (this.probeTaken) return { allowed: false, until: new Date(), reason: 'waiting for the Inngest probe' };
    this.probeTaken = true;
    return { allowed: true };
  }
}
