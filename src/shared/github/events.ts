export const SUPPORTED_EVENTS = ['ping', 'pull_request', 'issues', 'push', 'repository'] as const;

export type SupportedEvent = (typeof SUPPORTED_EVENTS)[number];

export function isSupportedEvent(name: string | null): name is SupportedEvent {
  return (SUPPORTED_EVENTS as readonly (string | null)[]).includes(name);
}
