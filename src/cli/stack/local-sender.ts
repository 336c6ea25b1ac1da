import type { Config } from '../../shared/config.ts';
import type { OutgoingEvent } from '../../shared/inngest/events.ts';
import { senderFromConfig } from '../../shared/inngest/from-config.ts';
import { createRecordingSender, type EventSender } from '../../shared/inngest/sender.ts';
import { logLine } from './log.ts';

/**
 * Events go to Inngest when INNGEST_EVENT_KEY is set; without it they are kept in memory (what
 * `stats` shows) and logged: visible, never silently lost. `recorded` is null when they are sent.
 */
export function localSender(config: Config): { sender: EventSender; recorded: OutgoingEvent[] | null } {
  if (config.inngest.eventKey) return { sender: senderFromConfig(config), recorded: null };
  const recording = createRecordingSender();
  return {
    recorded: recording.sent,
    sender: {
      async send(events) {
        await recording.send(events);
        const names = [...new Set(events.map((e) => e.name))];
        logLine({ msg: 'inngest events (recorded locally)', count: events.length, names, ids: events.slice(0, 3).map((e) => e.id) });
      },
    },
  };
}
