/** Deeper than any real GitHub payload by far; deeper input is an attack or a bug. */
export const MAX_PAYLOAD_DEPTH = 256;

// A UTF-16 surrogate without its partner: valid in a JS string, refused by Postgres' jsonb.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function badString(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a U+0000 character, which Postgres cannot store';
  if (LONE_SURROGATE.test(text)) return 'contains an unpaired UTF-16 surrogate, which Postgres cannot store';
  return null;
}

/**
 * Why a parsed payload cannot be stored as jsonb, or null when it can. A signed payload the
 * database would refuse must be a 400: a 5xx would make every redelivery fail the same way.
 * Iterative, so a hostile nesting depth cannot overflow the stack.
 */
export function unstorableReason(payload: unknown): string | null {
  const stack: { value: unknown; depth: number }[] = [{ value: payload, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof value === 'string') {
      const problem = badString(value);
      if (problem) return `a string ${problem}`;
    } else if (typeof value === 'object' && value !== null) {
      if (depth >= MAX_PAYLOAD_DEPTH) return `it is nested deeper than ${MAX_PAYLOAD_DEPTH} levels`;
      for (const [key, child] of Object.entries(value)) {
        const problem = badString(key);
        if (problem) return `a key ${problem}`;
        stack.push({ value: child, depth: depth + 1 });
      }
    }
  }
  return null;
}
