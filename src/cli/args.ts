import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Bad flags or input: the CLI prints this one line and the verb's usage, and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export function parseVerbArgs<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
}

/** "30s", "15m", "1h", "24h", "3d" → milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (!match) throw new UsageError(`${flag} must be a duration like 30m, 1h, 24h or 3d, got "${text}"`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

export function parsePositiveInt(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`${flag} must be a positive whole number, got "${text}"`);
  return Number(text);
}

export function parseRepo(text: string, flag = '--repo'): { owner: string; name: string; fullName: string } {
  const match = /^([^/\s]+)\/([^/\s]+)$/.exec(text);
  if (!match) throw new UsageError(`${flag} must be owner/name, got "${text}"`);
  return { owner: match[1] as string, name: match[2] as string, fullName: text };
}
