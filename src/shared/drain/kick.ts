/**
 * Starts a drain (`{}`: run what is ready). The receive path calls it only when its enqueue found
 * no drain running, hands it to `waitUntil` and never awaits it: a slow or missing drain must not
 * delay GitHub's answer, and the sweep picks up a job whose kick was lost within a minute. The
 * Edge Function answers `{}` early (202) where it can keep working after answering.
 */
export function createDrainKicker(options: {
  url: string;
  secret: string | null;
  fetch?: typeof fetch;
  timeoutMs?: number;
}): () => Promise<void> {
  const doFetch = options.fetch ?? fetch;
  return async () => {
    const response = await doFetch(options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.secret ? { authorization: `Bearer ${options.secret}` } : {}),
      },
      body: '{}',
      signal: AbortSignal.timeout(options.timeoutMs ?? 25_000),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`drain answered ${response.status}`);
  };
}
