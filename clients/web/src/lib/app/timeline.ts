/**
 * A channel's messages in order, without doubles: the rules that make optimistic sends,
 * history pages and live (or replayed) events land once each. Pure, so vitest covers them.
 */
import type { Msg, Reaction } from './types';

/** Older messages (a history page, oldest first) before the list; those already held are skipped. */
export function prepend(list: Msg[], older: Msg[]): Msg[] {
  const held = new Set(list.map((m) => m.id));
  return [...older.filter((m) => !held.has(m.id)), ...list];
}

/**
 * A message that arrived live (or replayed after a reconnect). Held already by id: ignored.
 * My own message still pending (its message_sent not seen yet) is matched by ciphertext and
 * takes the server's id. Returns the new list and whether the message was new.
 */
export function receive(list: Msg[], msg: Msg, me: string): [Msg[], boolean] {
  if (list.some((m) => m.id === msg.id)) return [list, false];
  if (msg.senderId === me) {
    const i = list.findIndex((m) => m.pending && m.ciphertext === msg.ciphertext);
    if (i >= 0) {
      const merged = { ...list[i], id: msg.id, pending: false, createdAt: msg.createdAt };
      return [[...list.slice(0, i), merged, ...list.slice(i + 1)], false];
    }
  }
  return [[...list, msg], true];
}

/** The server's answer to my send: the pending message gets its id (or goes, when the id is held). */
export function confirm(list: Msg[], clientId: string, id: string, createdAt: string): Msg[] {
  const i = list.findIndex((m) => m.clientId === clientId && m.pending);
  if (i < 0) return list;
  if (list.some((m) => m.id === id)) return list.filter((_, j) => j !== i);
  const merged = { ...list[i], id, pending: false, createdAt };
  return [...list.slice(0, i), merged, ...list.slice(i + 1)];
}

export function update(list: Msg[], id: string, change: (m: Msg) => Msg): Msg[] {
  return list.map((m) => (m.id === id ? change(m) : m));
}

/** A reaction added or removed by one user (idempotent: replays change nothing). */
export function react(reactions: Reaction[], emoji: string, user: string, add: boolean): Reaction[] {
  const out = reactions.map((r) => ({ ...r, user_ids: [...r.user_ids] }));
  let r = out.find((x) => x.emoji === emoji);
  if (add) {
    if (!r) out.push((r = { emoji, user_ids: [] }));
    if (!r.user_ids.includes(user)) r.user_ids.push(user);
  } else if (r) {
    r.user_ids = r.user_ids.filter((u) => u !== user);
  }
  return out.filter((x) => x.user_ids.length > 0);
}

/** Day label for a separator ("Today", "Yesterday", or the date). */
export function dayLabel(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const day = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((day(now) - day(d)) / 86_400_000);
  if (diff === 0) return 'Today';
  if (diff === 1) return 'Yesterday';
  return d.toLocaleDateString(undefined, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric' });
}

/** Whether msg continues the previous one's group (same sender within 5 minutes, same day). */
export function continues(prev: Msg | undefined, msg: Msg): boolean {
  if (!prev || prev.senderId !== msg.senderId || prev.deleted) return false;
  const a = new Date(prev.createdAt).getTime();
  const b = new Date(msg.createdAt).getTime();
  return b - a < 5 * 60_000 && new Date(a).toDateString() === new Date(b).toDateString();
}

/** Newer messages (a page after the list's newest, oldest first) after the list; doubles skipped. */
export function append(list: Msg[], newer: Msg[]): Msg[] {
  const held = new Set(list.map((m) => m.id));
  const fresh = newer.filter((m) => !held.has(m.id));
  // pending sends stay last: they are newer than anything the server has paged
  const sent = list.filter((m) => !m.pending);
  const pending = list.filter((m) => m.pending);
  return [...sent, ...fresh, ...pending];
}
