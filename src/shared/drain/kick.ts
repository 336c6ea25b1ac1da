/**
 * Asks the drain to process one job right away. The receive path hands this to `waitUntil`
 * and never awaits it: a slow or missing drain must not delay GitHub's answer, and the sweep
 * picks up a job whose kick was lost within a minute.
 */
export function createDrainKicker(options: {
  url: string;
  secret: string | null;
  fetch?: typeof fetch;
  timeoutMs?: number;
}): (jobId: string) => Promise<void> {
  const doFetch = options.fetch ?? fetch;
  return async (jobId) => {
    const response = await doFetch(options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.secret ? { authorization: `Bearer ${options.secret}` } : {}),
      },
      body: JSON.stringify({ jobId }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 25_000),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`drain answered ${response.status}`);
  };
}
