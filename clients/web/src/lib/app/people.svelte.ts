/**
 * The people this page knows: profiles by id (fetched once, kept current by
 * user_profile_updated), presence, who is typing where, and channel members (paged, kept
 * briefly for mention autocomplete and the mentions a message declares).
 */
import { declaredMentions, type Mentionable } from './mentions';
import type { Frame } from './gateway';
import type { Page, User } from './types';
import type { ChatState } from './state.svelte';

export class People {
  users = $state<Record<string, User>>({});
  /** Per user: online / idle / dnd / offline. */
  presence = $state<Record<string, string>>({});
  /** Per channel: who is typing, until when (ms). */
  typing = $state<Record<string, Record<string, number>>>({});
  /** Per channel: its members as last fetched (mention autocomplete). */
  private mentionable: Record<string, { at: number; members: Mentionable[] }> = {};
  private lastTyping = 0;

  constructor(private readonly app: ChatState) {}

  async user(id: string): Promise<User | undefined> {
    if (this.users[id]) return this.users[id];
    try {
      const u = await this.app.api.get<User>(`/users/${id}`);
      this.users[id] = u;
      return u;
    } catch {
      return undefined;
    }
  }

  name(id: string | null): string {
    if (!id) return 'webhook';
    const u = this.users[id];
    return u ? u.display_name || u.username : '…';
  }

  async searchUsers(q: string): Promise<User[]> {
    const found = await this.app.api.get<User[] | Page<User>>(`/users/search?q=${encodeURIComponent(q)}`);
    return Array.isArray(found) ? found : found.items;
  }

  /** Every member of a channel (paged). */
  async members(channelId: string): Promise<string[]> {
    return (await this.memberList(channelId)).map((m) => m.id);
  }

  /** The channel's members with their names (every page); cached for mentions. */
  async memberList(channelId: string): Promise<Mentionable[]> {
    const out: Mentionable[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<{ user_id: string; username: string | null; display_name: string | null }> = await this.app.api.get(
        `/channels/${channelId}/members?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      for (const m of page.items) out.push({ id: m.user_id, username: m.username ?? '', display_name: m.display_name });
      cursor = page.next_cursor;
    } while (cursor);
    this.mentionable[channelId] = { at: Date.now(), members: out };
    return out;
  }

  /** Members to offer after `@` (fetched at most every 30 s per channel). */
  async mentionCandidates(channelId: string): Promise<Mentionable[]> {
    const held = this.mentionable[channelId];
    if (held && Date.now() - held.at < 30_000) return held.members;
    return this.memberList(channelId);
  }

  /** The ids the text mentions, from the current member list (fetched only when the text has an `@`). */
  async mentionsIn(channelId: string, text: string): Promise<string[]> {
    if (!text.includes('@')) return [];
    return declaredMentions(text, await this.memberList(channelId));
  }

  /** This user types: said at most every 3 s. */
  typed(channelId: string): void {
    if (Date.now() - this.lastTyping < 3000) return;
    this.lastTyping = Date.now();
    this.app.gateway?.fire({ type: 'typing', channel_id: channelId });
  }

  typingNames(channelId: string): string[] {
    const now = Date.now();
    return Object.entries(this.typing[channelId] ?? {})
      .filter(([u, until]) => until > now && u !== this.app.me?.id)
      .map(([u]) => this.name(u));
  }

  /** user_typing, user_stopped_typing, user_profile_updated, presence_update, presence_bulk. */
  onFrame(f: Frame): void {
    switch (f.type) {
      case 'user_typing': {
        const ch = String(f.channel_id);
        this.typing[ch] = { ...(this.typing[ch] ?? {}), [String(f.user_id)]: Date.now() + 6000 };
        return;
      }
      case 'user_stopped_typing': {
        const ch = String(f.channel_id);
        if (this.typing[ch]) delete this.typing[ch][String(f.user_id)];
        return;
      }
      case 'user_profile_updated': {
        // only the changed fields are set; "" clears one
        const id = String(f.user_id);
        const change = Object.fromEntries(
          ['display_name', 'avatar_url', 'banner_url', 'custom_status'].filter((k) => typeof f[k] === 'string').map((k) => [k, f[k] || null]),
        );
        if (this.users[id]) this.users[id] = { ...this.users[id], ...change };
        const me = this.app.me;
        if (me?.id === id) this.app.me = { ...me, ...change };
        return;
      }
      case 'presence_update':
        this.presence[String(f.user_id)] = String(f.status);
        return;
      case 'presence_bulk': {
        const list = (f.users ?? f.presences ?? []) as { user_id: string; status: string }[];
        for (const p of list) this.presence[p.user_id] = p.status;
        return;
      }
    }
  }
}
