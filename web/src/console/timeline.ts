// The replay's window onto a long event log (pure, tested with vitest). Pages are read by
// keyset (`after`) as one scrolls either way; at most `MAX_WINDOW` events are in the page at
// once, so a 1,000-turn conversation (thousands of events) scrolls as smoothly as a short one.
// Seqs of a conversation are consecutive from 1, so the page before seq s is `after = s - 1 - n`.

import type { EventPage, LoggedEvent } from "./api-types";

export const MAX_WINDOW = 600;

export interface TimelineWindow {
  events: LoggedEvent[];
  /** `after` of the next page; null when the window reaches the end of the log. */
  next: number | null;
}

export const EMPTY: TimelineWindow = { events: [], next: 0 };

/** Whether events before the window exist. */
export function hasEarlier(w: TimelineWindow): boolean {
  return w.events.length > 0 && w.events[0].seq > 1;
}

/** The window with the next page at its end, its oldest events let go past `max`. */
export function appendPage(w: TimelineWindow, page: EventPage, max = MAX_WINDOW): TimelineWindow {
  const last = w.events.length ? w.events[w.events.length - 1].seq : 0;
  const events = [...w.events, ...page.events.filter((e) => e.seq > last)];
  return { events: events.slice(Math.max(0, events.length - max)), next: page.next_after };
}

/** Where the page before the window starts and how long it is; null at the log's start. */
export function earlierQuery(w: TimelineWindow, size: number): { after: number; limit: number } | null {
  if (!hasEarlier(w)) return null;
  const first = w.events[0].seq;
  const after = Math.max(0, first - 1 - size);
  return { after, limit: first - 1 - after };
}

/** The window with an earlier page at its start, its newest events let go past `max`. */
export function prependPage(w: TimelineWindow, earlier: LoggedEvent[], max = MAX_WINDOW): TimelineWindow {
  const first = w.events.length ? w.events[0].seq : Infinity;
  const events = [...earlier.filter((e) => e.seq < first), ...w.events];
  if (events.length <= max) return { events, next: w.next };
  const kept = events.slice(0, max);
  return { events: kept, next: kept[kept.length - 1].seq };
}

/** `after` of a window opened on `seq`, a few steps of context before it. */
export function aroundSeq(seq: number, context = 20): number {
  return Math.max(0, seq - 1 - context);
}
