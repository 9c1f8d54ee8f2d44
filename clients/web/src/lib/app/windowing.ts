/**
 * Windows: a channel opened at a search hit holds the pages around it, not its newest
 * messages. Live messages for it are held aside (here) and join, by id and once, when the
 * window reaches the end. They are held from the moment the window starts loading: a page
 * can be answered before a message that is on its way to this page was projected (the page
 * waits only for the position this socket has seen), and the list the window replaces may
 * be dropped with the messages that arrived meanwhile. Pure, so vitest covers it.
 */
import { receive } from './timeline';
import type { Msg } from './types';

export class LiveHold {
  private held = new Map<string, Msg[]>();

  /** Hold the channel's live messages from now on (what is held already stays). */
  start(channelId: string): void {
    if (!this.held.has(channelId)) this.held.set(channelId, []);
  }

  holding(channelId: string): boolean {
    return this.held.has(channelId);
  }

  /** Keep a live message (false when the channel is not held: the caller shows it). */
  add(channelId: string, msg: Msg): boolean {
    const list = this.held.get(channelId);
    if (!list) return false;
    list.push(msg);
    return true;
  }

  /** Stop holding the channel; what was held, oldest first. */
  release(channelId: string): Msg[] {
    const list = this.held.get(channelId) ?? [];
    this.held.delete(channelId);
    return list;
  }
}

/** Held live messages after the list (those it has already, by id or as my pending send, skipped). */
export function join(list: Msg[], held: Msg[], me: string): Msg[] {
  for (const m of held) list = receive(list, m, me)[0];
  return list;
}

/** The pages around a hit as a window: `after` came back full, so newer messages remain. */
export function windowOf(before: Msg[], after: Msg[], limit: number): { list: Msg[]; moreBefore: boolean; moreAfter: boolean } {
  return { list: [...before, ...after], moreBefore: before.length === limit, moreAfter: after.length === limit };
}
