import type { Config } from '../config.ts';
import { createInngestSender } from './sdk-sender.ts';
import { configuredSender, type EventSender } from './sender.ts';

/** Node's sender (Netlify, the CLI): the Inngest SDK. The Edge Function builds its own. */
export function senderFromConfig(config: Pick<Config, 'inngest'>): EventSender {
  return configuredSender(config, createInngestSender);
}
