/** SIGINT or SIGTERM, as a promise; a signal that arrives while booting is kept until awaited. */
export function stopSignals(): { requested: Promise<string>; dispose(): void } {
  let resolve: (signal: string) => void = () => {};
  const requested = new Promise<string>((r) => (resolve = r));
  const onSignal = (signal: NodeJS.Signals) => resolve(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    requested,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Work that outlives its request (kicks, timed drains): tracked so a stop lets it finish. */
export function backgroundWork(): { track(work: Promise<unknown>): void; settled(): Promise<void> } {
  const inFlight = new Set<Promise<unknown>>();
  return {
    track(work) {
      inFlight.add(work);
      void work.catch(() => {}).finally(() => inFlight.delete(work));
    },
    async settled() {
      await Promise.allSettled([...inFlight]);
    },
  };
}
