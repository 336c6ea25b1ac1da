/** Deeper than any real GitHub payload by far; deeper input is an attack or a bug. */
export const MAX_PAYLOAD_DEPTH = 256;

// A UTF-16 surrogate without its partner: valid in a JS string, refused by Postgres' jsonb.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Either problem needs one of these characters; almost no string has any, so one plain scan
// clears it and the lookaround above runs only on the rest.
const SUSPECT = /[\u0000\uD800-\uDFFF]/;

function badString(text: string): string | null {
  if (!SUSPECT.test(text)) return null;
  if (text.includes('\u0000')) return 'contains a U+0000 character, which Postgres cannot store';
  if (LONE_SURROGATE.test(text)) return 'contains an unpaired UTF-16 surrogate, which Postgres cannot store';
  return null;
}

// In JSON text, U+0000 and surrogates can only arrive escaped: a raw control character is not JSON,
// and text decoded from UTF-8 (bodies, form fields) holds surrogates only in valid pairs.
const SUSPECT_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

/**
 * Why a parsed payload cannot be stored as jsonb, or null when it can. A signed payload the
 * database would refuse must be a 400: a 5xx would make every redelivery fail the same way.
 * Iterative, so a hostile nesting depth cannot overflow the stack; it runs on every delivery, so
 * it walks with two plain arrays and allocates nothing per value. Given the JSON text the payload
 * was parsed from, its strings are checked one by one only when that text holds an escape that
 * could have made a bad one.
 */
export function unstorableReason(payload: unknown, jsonText?: string): string | null {
  // The plain search first: it is several times quicker than the regex over a large text, and
  // without a "\u" the regex cannot match.
  const checkStrings = jsonText === undefined || (jsonText.includes('\\u') && SUSPECT_ESCAPE.test(jsonText));
  // Only the depth is left to check then. Every level of nesting opens with its own "{" or "[", so
  // text with at most MAX_PAYLOAD_DEPTH of them (brackets inside strings only add to the count)
  // cannot nest deeper; otherwise the walk below checks the depth.
  if (!checkStrings && openingBrackets(jsonText as string, MAX_PAYLOAD_DEPTH + 1) <= MAX_PAYLOAD_DEPTH) return null;
  const values: unknown[] = [payload];
  const depths: number[] = [0];
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop() as number;
    if (typeof value === 'string') {
      if (!checkStrings) continue;
      const problem = badString(value);
      if (problem) return `a string ${problem}`;
    } else if (typeof value === 'object' && value !== null) {
      if (depth >= MAX_PAYLOAD_DEPTH) return `it is nested deeper than ${MAX_PAYLOAD_DEPTH} levels`;
      if (Array.isArray(value)) {
        for (const child of value) {
          values.push(child);
          depths.push(depth + 1);
        }
        continue;
      }
      const record = value as Record<string, unknown>;
      for (const key in record) {
        const problem = checkStrings ? badString(key) : null;
        if (problem) return `a key ${problem}`;
        values.push(record[key]);
        depths.push(depth + 1);
      }
    }
  }
  return null;
}

/** How many "{" and "[" `text` holds, counting no further than `stop`. */
function openingBrackets(text: string, stop: number): number {
  let count = 0;
  for (let i = text.indexOf('{'); i !== -1 && count < stop; i = text.indexOf('{', i + 1)) count += 1;
  for (let i = text.indexOf('['); i !== -1 && count < stop; i = text.indexOf('[', i + 1)) count += 1;
  return count;
}
