const encoder = new TextEncoder();

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
}

/**
 * Constant-time comparison of two strings. Web Crypto has no timingSafeEqual, so both sides
 * are hashed to equal length first and compared without an early exit.
 */
export async function timingSafeEqualText(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  let diff = 0;
  for (let i = 0; i < x.length; i += 1) diff |= (x[i] as number) ^ (y[i] as number);
  return diff === 0;
}

/** True when `Authorization: Bearer <token>` matches one of the accepted tokens. */
export async function isAuthorized(request: Request, tokens: readonly string[]): Promise<boolean> {
  const match = /^Bearer\s+(.+)$/i.exec(request.headers.get('authorization') ?? '');
  if (!match?.[1]) return false;
  let ok = false;
  // Compare against every token so the time does not reveal which one matched.
  for (const token of tokens) if (await timingSafeEqualText(match[1].trim(), token)) ok = true;
  return ok;
}
