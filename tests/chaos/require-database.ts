// First global setup of the reliability suite: refuse to run without a real PostgreSQL.
import { chaosScale, requireDatabaseUrl } from '../helpers/chaos-env.ts';

export default function setup(): void {
  requireDatabaseUrl();
  const scale = chaosScale();
  console.log(`[chaos] CHAOS_SCALE=${scale} (${scale === 1 ? 'full' : 'reduced'} run) on ${new URL(requireDatabaseUrl()).host}`);
}
