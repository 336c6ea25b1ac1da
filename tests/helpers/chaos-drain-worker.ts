// A drain worker process for the reliability suite (started by startDrainWorker in chaos-stack.ts):
// runs the real CLI verb `webhook-router drain --json` through main() in a loop, with the
// environment it was given (DATABASE_URL, INNGEST_*), until SIGTERM. Each run prints its JSON
// summary on stdout. When a run finds nothing to do it waits a little before the next one.
import { main } from '../../src/cli/main.ts';

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});
process.on('SIGINT', () => {
  stopping = true;
});

const idleMs = Number(process.env.CHAOS_WORKER_IDLE_MS ?? 200);
const write = process.stdout.write.bind(process.stdout);

while (!stopping) {
  let captured = '';
  // Tee what the verb prints, to see whether the run claimed anything.
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  let code: number;
  try {
    code = await main(['drain', '--json'], process.env);
  } finally {
    process.stdout.write = write;
  }
  let claimed = 0;
  try {
    claimed = Number((JSON.parse(captured.trim().split('\n').pop() ?? '{}') as { claimed?: number }).claimed ?? 0);
  } catch {
    claimed = 0;
  }
  if (code !== 0 || claimed === 0) await new Promise((resolve) => setTimeout(resolve, code !== 0 ? 500 : idleMs));
}
process.exit(0);
