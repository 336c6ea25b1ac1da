import type { Database } from '../db/port.ts';

export const INNGEST_CIRCUIT = 'inngest';

export interface CircuitSettings {
  failureThreshold: number;
  cooldownSeconds: number;
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
      p_probe_timeout_seconds: this.settings.cooldownSeconds,
    });
    if (!row) throw new Error('acquire_circuit returned no row');
    return {
      allowed: row.allowed,
      state: row.state,
      retryAt: row.retry_at ? new Date(row.retry_at) : null,
      consecutiveFailures: row.consecutive_failures,
    };
  }

  /** Returns the state after the report; `open` means the failure is the dependency's, not the job's. */
  async report(success: boolean, error?: string): Promise<{ state: CircuitPermit['state']; retryAt: Date | null }> {
    const [row] = await this.db.call<{ state: CircuitPermit['state']; retry_at: string | null }>('report_circuit', {
      p_name: this.name,
      p_worker: this.worker,
      p_success: success,
      p_failure_threshold: this.settings.failureThreshold,
      p_cooldown_seconds: this.settings.cooldownSeconds,
      p_error: error ?? null,
    });
    if (!row) throw new Error('report_circuit returned no row');
    return { state: row.state, retryAt: row.retry_at ? new Date(row.retry_at) : null };
  }
}
