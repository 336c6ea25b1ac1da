/** Every answer is JSON and echoes the delivery id, so GitHub's delivery log explains itself. */
export function answer(
  status: number,
  deliveryId: string | null,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ ok: status < 400, delivery: deliveryId, ...body }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}
