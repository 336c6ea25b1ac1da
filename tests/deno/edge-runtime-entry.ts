// The Edge Function as Supabase's edge runtime runs it: with the EdgeRuntime global, whose
// waitUntil keeps a promise running after the answer. Plain Deno has no such global.
const kept = new Set<Promise<unknown>>();
Object.assign(globalThis, {
  EdgeRuntime: {
    waitUntil(work: Promise<unknown>): void {
      kept.add(work);
      void work.finally(() => kept.delete(work));
    },
  },
});
await import('../../supabase/functions/process-webhook/index.ts');
