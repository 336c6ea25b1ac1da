/**
 * Settles with `work`, or with `onTimeout()` after `ms`, whichever comes first. The work is not
 * cancelled (a Promise cannot be); callers rely on idempotent effects for a late finish.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => T | Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      Promise.resolve()
        .then(onTimeout)
        .then(resolve, reject);
    }, Math.max(0, ms));
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
