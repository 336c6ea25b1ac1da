import { logLine } from './log.ts';

/**
 * Runs the drain every `intervalMs`, one timed run at a time (a kick may still run beside it:
 * leases keep them apart), as pg_cron's every-minute sweep does in production.
 */
export function startDrainTimer(drain: () => Promise<unknown>, intervalMs: number, track: (work: Promise<unknown>) => void): { stop(): void } {
  let running: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = drain()
      .catch((error) => logLine({ msg: 'timed drain failed', error: String(error) }))
      .finally(() => (running = null));
    track(running);
  }, intervalMs);
  return { stop: () => clearInterval(timer) };
}
