import type { Config } from '../config.ts';
import type { OutgoingEvent } from './events.ts';
import { createInngestSender, InngestSendError, type EventSender } from './sender.ts';

/**
 * Without INNGEST_EVENT_KEY a deployed function cannot deliver events: it fails the send, so
 * inline work falls back to the queue and queued work is retried once the key is set.
 */
export function unconfiguredSender(): EventSender {
  return {
    async send(events: OutgoingEvent[]) {
      if (events.length > 0) throw new InngestSendError('INNGEST_EVENT_KEY is not set; events cannot be sent');
    },
  };
}

export function senderFromConfig(config: Pick<Config, 'inngest'>): EventSender {
  const { eventKey, baseUrl } = config.inngest;
  if (!eventKey) return unconfiguredSender();
  return createInngestSender({ eventKey, ...(baseUrl ? { baseUrl } : {}) });
}
