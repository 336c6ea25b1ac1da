// What Postgres' jsonb refuses (U+0000, unpaired surrogates, absurd nesting) is found whether the
// strings are checked one by one or cleared by one scan of the JSON text they were parsed from.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unstorableReason } from '../../../src/shared/github/storable.ts';

// Any UTF-16 code unit, so lone surrogates and U+0000 come up often.
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));
const anyText = fc.string({ unit: fc.oneof(codeUnit, fc.constantFrom('\u0000', '\ud800', '\udfff', '\ud83d\ude80', 'a')), maxLength: 12 });
const anyJson = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    anyText,
    fc.integer(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyText, tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('unstorableReason', () => {
  it('gives the same answer with the JSON text as without it, for any value', () => {
    fc.assert(
      fc.property(anyJson, (value) => {
        const text = JSON.stringify({ payload: value });
        const parsed = JSON.parse(text) as unknown;
        expect(unstorableReason(parsed, text)).toBe(unstorableReason(parsed));
      }),
      { numRuns: 2_000, seed: 20261130 },
    );
  });

  it('finds escapes written with upper-case hex digits, in keys and in values', () => {
    expect(unstorableReason(JSON.parse('{"a":"x\\uDBFFy"}'), '{"a":"x\\uDBFFy"}')).toMatch(/surrogate/);
    expect(unstorableReason(JSON.parse('{"\\u0000":1}'), '{"\\u0000":1}')).toMatch(/U\+0000/);
    expect(unstorableReason(JSON.parse('{"a":"\\uD83D\\uDE80"}'), '{"a":"\\uD83D\\uDE80"}')).toBeNull();
  });

  it('checks the nesting depth even when the text holds no suspect escape', () => {
    const text = `${'['.repeat(300)}1${']'.repeat(300)}`;
    expect(unstorableReason(JSON.parse(text), text)).toMatch(/nested deeper than 256/);
    // At the limit either way: 256 opening brackets nest at most 255 deep; 257 can reach 256.
    const at = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    expect(unstorableReason(JSON.parse(at(256)), at(256))).toBeNull();
    expect(unstorableReason(JSON.parse(at(257)), at(257))).toMatch(/nested deeper than 256/);
    // Many brackets side by side are shallow: counted past the limit, then walked and found fine.
    const wide = `[${Array.from({ length: 400 }, () => '{"a":[]}').join(',')}]`;
    expect(unstorableReason(JSON.parse(wide), wide)).toBeNull();
  });
});
