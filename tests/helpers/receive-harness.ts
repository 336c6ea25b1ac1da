import { loadConfig, type EnvRecord } from '../../src/shared/config.ts';
import type { Database } from '../../src/shared/db/port.ts';
import { createRecordingSender, type EventSender } from '../../src/shared/inngest/sender.ts';
import { receiveWebhook, type ReceiveDeps, type ReceiveMode } from '../../src/shared/receive/receive.ts';
import { TEST_SECRET } from './deliveries.ts';

export interface Harness {
  deps: ReceiveDeps;
  sender: EventSender & { sent: { name: string; id: string; data: Record<string, unknown> }[] };
  /** One entry per drain kick the receiver started. */
  kicks: number[];
  logs: Record<string, unknown>[];
  receive(request: Request): Promise<{ status: number; body: any; response: Response }>;
}

export function harness(
  db: Database | null,
  options: { env?: EnvRecord; mode?: ReceiveMode; sender?: EventSender } = {},
): Harness {
  // Pushes are not debounced unless a test asks: most tests drain right after receiving.
  const config = loadConfig({ GITHUB_WEBHOOK_SECRET: TEST_SECRET, PUSH_DEBOUNCE_SECONDS: '0', ...options.env });
  const recording = createRecordingSender();
  const kicks: number[] = [];
  const logs: Record<string, unknown>[] = [];
  const deps: ReceiveDeps = {
    config,
    mode: options.mode ?? 'hybrid',
    db,
    sender: options.sender ?? recording,
    kickDrain: async () => {
      kicks.push(Date.now());
    },
    waitUntil: () => {},
    log: (entry) => logs.push(entry),
  };
  return {
    deps,
    sender: recording,
    kicks,
    logs,
    async receive(request) {
      const response = await receiveWebhook(request, deps);
      return { status: response.status, body: await response.clone().json(), response };
    },
  };
}
