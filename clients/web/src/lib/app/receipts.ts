/**
 * Read receipts shown under messages ("Seen by …"): each member's read cursor (from
 * `GET /channels/{id}/read-cursors`, then `read_receipt` frames) marks the last message
 * they read; the receipt shows under that message when the timeline holds it, and a
 * cursor only ever moves forward here (a late, older frame never moves it back). Members
 * who turned receipts off never appear (the server leaves them out). Me neither.
 */
import type { Msg } from './types';

export type Cursors = Record<string, string>;

/** Message id -> the readers whose cursor is at it (only messages the list holds). */
export function seenBy(list: Msg[], cursors: Cursors, me: string | null): Record<string, string[]> {
  const at = new Map(list.map((m, i) => [m.id, i]));
  const out: Record<string, string[]> = {};
  for (const [user, msg] of Object.entries(cursors)) {
    if (user === me || !at.has(msg)) continue;
    (out[msg] ??= []).push(user);
  }
  return out;
}

/** A reader's cursor moved to `messageId`: kept unless the list shows it older than the held one. */
export function moveCursor(cursors: Cursors, list: Msg[], user: string, messageId: string): Cursors {
  const held = cursors[user];
  if (held) {
    const a = list.findIndex((m) => m.id === held);
    const b = list.findIndex((m) => m.id === messageId);
    if (a >= 0 && b >= 0 && b < a) return cursors;
  }
  return { ...cursors, [user]: messageId };
}

export function seenLabel(names: string[]): string {
  if (names.length <= 3) return `Seen by ${names.join(', ')}`;
  return `Seen by ${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}
