/**
 * What has been read: this user's unread and mention counts per channel (the sidebar's
 * badges), the unread divider of an opened channel, marking read, and the members' read
 * cursors ("Seen by", receipts.ts). Counts are kept exact across reconnects and new
 * channels by asking the server as of a known position rather than counting twice.
 */
import { moveCursor, type Cursors } from './receipts';
import type { Frame } from './gateway';
import type { Page, ServerMessage, Unread } from './types';
import type { ChatState } from './state.svelte';

export class Unreads {
  /** Per channel: unread and mention counts (absent: nothing unread). */
  counts = $state<Record<string, Unread>>({});
  /** Per channel: the last message read when it was opened (the unread divider goes after it). */
  marker = $state<Record<string, string | null>>({});
  /** Per channel: members' read cursors (user id -> message id), for "Seen by" (receipts.ts). */
  cursors = $state<Record<string, Cursors>>({});
  /** Channels new to this page whose next message's unread count is read from the server. */
  private recount = new Set<string>();

  constructor(private readonly app: ChatState) {}

  /** Signed out: no counts. */
  reset(): void {
    this.counts = {};
  }

  /** The counts as the server gave them (the sidebar's load). */
  replace(list: Unread[]): void {
    this.counts = Object.fromEntries(list.map((u) => [u.channel_id, u]));
  }

  /** A channel new to this page: the counts read meanwhile may or may not hold its next message. */
  recountNext(channelId: string): void {
    this.recount.add(channelId);
  }

  /** A channel opens: the divider goes after the last message read, when something is unread. */
  placeMarker(channelId: string): void {
    const unread = this.counts[channelId];
    this.marker[channelId] = unread && unread.unread_count > 0 ? (unread.last_read_message_id ?? null) : null;
  }

  markRead(channelId: string): void {
    const messages = this.app.messages;
    if (messages.moreAfter[channelId]) return; // a window short of the end: its last message is not the newest
    const list = messages.byChannel[channelId] ?? [];
    const last = [...list].reverse().find((m) => !m.pending && !m.id.startsWith('pending:'));
    if (this.counts[channelId]) delete this.counts[channelId];
    if (last) this.app.gateway?.command({ type: 'mark_read', channel_id: channelId, message_id: last.id }).catch(() => {});
  }

  async markAllRead(): Promise<void> {
    await this.app.gateway?.command({ type: 'mark_all_read' }).catch(() => {});
    this.counts = {};
  }

  /** The server's counts as of a position (null when it could not answer). */
  private asOf(position: string | null | undefined): Promise<Unread[] | null> {
    return this.app.api
      .request<Unread[]>('GET', '/channels/unread', undefined, { headers: position ? { 'Chatalot-Min-Position': position } : {} })
      .catch(() => null);
  }

  /** A live message from someone else in a channel not being watched: one more unread (a mention more when it names me). */
  async count(s: ServerMessage): Promise<void> {
    const ch = s.channel_id;
    if (this.recount.delete(ch)) {
      // counts read while this channel was new may already hold this message: ask the server
      // as of this message (never counted twice)
      const all = await this.asOf(s.position);
      const item = all?.find((u) => u.channel_id === ch);
      if (all) {
        if (item) this.counts[ch] = item;
        return;
      }
    }
    const held = (this.app.messages.byChannel[ch] ?? []).filter((m) => m.id !== (s.id ?? s.message_id));
    const u = this.counts[ch] ?? { channel_id: ch, unread_count: 0, mention_count: 0, last_read_message_id: held.at(-1)?.id ?? null };
    const mentioned = (s.mentions ?? []).includes(this.app.me?.id ?? '');
    this.counts[ch] = { ...u, unread_count: u.unread_count + 1, mention_count: u.mention_count + (mentioned ? 1 : 0) };
  }

  /**
   * After a replay the counts are read again as of the resumed position: the sidebar read
   * before the socket opened may already hold replayed messages, which were added again.
   */
  async recountAll(position: string | null): Promise<void> {
    const all = await this.asOf(position);
    if (!all) return;
    const current = this.app.current;
    const open = current && typeof document !== 'undefined' && document.visibilityState === 'visible' ? current : null;
    this.counts = Object.fromEntries(all.filter((u) => u.channel_id !== open).map((u) => [u.channel_id, u]));
    if (open) this.markRead(open);
  }

  /** Members' read cursors (first page: receipts are shown for small audiences). */
  async loadCursors(channelId: string): Promise<void> {
    const page = await this.app.api
      .get<Page<{ user_id: string; last_read_message_id: string }>>(`/channels/${channelId}/read-cursors?limit=100`)
      .catch(() => null);
    if (!page) return;
    let cursors: Cursors = { ...(this.cursors[channelId] ?? {}) };
    for (const c of page.items) cursors = moveCursor(cursors, this.app.messages.byChannel[channelId] ?? [], c.user_id, c.last_read_message_id);
    this.cursors[channelId] = cursors;
  }

  /** read_receipt: a member's cursor moves (only forward, receipts.ts). */
  onReceipt(f: Frame): void {
    const ch = String(f.channel_id);
    this.cursors[ch] = moveCursor(this.cursors[ch] ?? {}, this.app.messages.byChannel[ch] ?? [], String(f.user_id), String(f.message_id));
  }
}
