/** The raw body, or `null` when it is larger than `limit` bytes (read no further than that). */
export async function readBodyWithLimit(request: Request, limit: number): Promise<Uint8Array<ArrayBuffer> | null> {
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) return null;
  if (!request.body) return new Uint8Array(0);
  // Read with the stream's own reader whether or not a length is declared (a body longer than it
  // declared is cut by the HTTP layer, but this counts anyway): arrayBuffer() reads the same
  // chunks through several more layers of promises and copies them once more.
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  // One chunk (a buffered body, as Netlify hands over) is the body itself: the reader's to keep.
  const only = chunks.length === 1 ? chunks[0] : undefined;
  if (only !== undefined && only.buffer instanceof ArrayBuffer) return only as Uint8Array<ArrayBuffer>;
  const body = new Uint8Array(total);
  let offset = 0;
  for (const part of chunks) {
    body.set(part, offset);
    offset += part.byteLength;
  }
  return body;
}

/** Hex SHA-256 of a delivery's payload bytes (WebCrypto): what identifies it whatever GUID it arrives with. */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const byte of digest) hex += byte.toString(16).padStart(2, '0');
  return hex;
}
