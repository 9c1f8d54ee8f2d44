/**
 * Per-channel message lists as the timeline shows them: loaded by pages (older on scroll
 * up; a window around a search hit paged both ways until it meets the live end, with live
 * messages held aside meanwhile, windowing.ts), opened (decrypted when E2E), and changed by
 * what this user does (optimistic sends, edits, deletes, reactions) and by the live frames
 * about messages. The list operations themselves are pure (timeline.ts).
 */
import { KeyChanged, base64ToUtf8, utf8ToBase64 } from './secure';
import { uploadFile } from './files';
import { append, confirm, prepend, react, receive, update } from './timeline';
import { LiveHold, join, windowOf } from './windowing';
import type { Frame } from './gateway';
import type { Msg, Page, ServerMessage } from './types';
import type { ChatState } from './state.svelte';

export type LocalHit = { channelId: string; messageId: string; senderId: string | null; snippet: string; local: true };

export class Messages {
  /** Per channel: the messages held in this page, oldest first. */
  byChannel = $state<Record<string, Msg[]>>({});
  moreBefore = $state<Record<string, boolean>>({});
  /** Channels held as a window that does not reach the newest message (opened at a search hit). */
  moreAfter = $state<Record<string, boolean>>({});
  /** Per channel: the message to scroll to once shown (a search hit). */
  focus = $state<Record<string, string | null>>({});
  /** Live messages of a window channel (loading, or short of the end), merged when scrolling down reaches the end. */
  private held = new LiveHold();

  constructor(private readonly app: ChatState) {}

  /** Signed out: nothing held. */
  reset(): void {
    this.byChannel = {};
  }

  /** Headers that make a page answer from read models that reached what this socket has seen. */
  private seenHeaders(): Record<string, string> {
    const seen = this.app.gateway?.position;
    return seen ? { 'Chatalot-Min-Position': seen } : {};
  }

  /**
   * Open a channel at one message (a search hit): the page around it, then pages both ways
   * as the view scrolls (loadHistory older, loadNewer newer) until it meets the live end.
   */
  async openAt(channelId: string, messageId: string): Promise<void> {
    if (this.byChannel[channelId]?.some((m) => m.id === messageId)) {
      this.focus[channelId] = messageId;
      return this.app.open(channelId);
    }
    const headers = this.seenHeaders();
    const get = (q: string) => this.app.api.request<Page<ServerMessage>>('GET', `/channels/${channelId}/messages?${q}`, undefined, { headers });
    // held from here: the pages answer as of `seen`, and the list they replace drops what
    // arrives meanwhile (windowing.ts)
    this.held.start(channelId);
    let newer: Page<ServerMessage>;
    let older: Page<ServerMessage>;
    try {
      newer = await get(`after=${messageId}&limit=25`);
      older = newer.items.length ? await get(`before=${newer.items[0].id}&limit=25`) : { items: [], next_cursor: null };
    } catch (e) {
      if (!this.moreAfter[channelId]) this.closeWindow(channelId);
      throw e;
    }
    if (newer.items.length === 0) {
      // the hit is the newest message: the ordinary end of the channel holds it
      this.focus[channelId] = messageId;
      if (this.moreAfter[channelId]) await this.toEnd(channelId); // another window of this channel was open
      const held = this.held.release(channelId);
      await this.app.open(channelId);
      if (this.byChannel[channelId]) this.byChannel[channelId] = join(this.byChannel[channelId], held, this.app.me?.id ?? '');
      return;
    }
    const opened: Msg[][] = [[], []];
    for (const [i, page] of [older, newer].entries()) for (const item of page.items) opened[i].push(await this.openMessage(item));
    const w = windowOf(opened[0], opened[1], 25);
    this.byChannel[channelId] = w.list;
    this.moreBefore[channelId] = w.moreBefore;
    this.moreAfter[channelId] = w.moreAfter;
    this.focus[channelId] = messageId;
    if (!w.moreAfter) this.closeWindow(channelId);
    await this.app.open(channelId);
  }

  /** The next page after the window's newest message; at the end, the live messages held meanwhile join. */
  async loadNewer(channelId: string): Promise<void> {
    if (!this.moreAfter[channelId]) return;
    const newest = [...(this.byChannel[channelId] ?? [])].reverse().find((m) => !m.pending);
    if (!newest) return;
    const page = await this.app.api.request<Page<ServerMessage>>('GET', `/channels/${channelId}/messages?after=${newest.id}&limit=50`, undefined, {
      headers: this.seenHeaders(),
    });
    const opened: Msg[] = [];
    for (const item of page.items) opened.push(await this.openMessage(item));
    this.byChannel[channelId] = append(this.byChannel[channelId] ?? [], opened);
    if (page.items.length < 50) this.closeWindow(channelId);
  }

  /** Leave a window for the channel's newest messages (and live ones). */
  async toEnd(channelId: string): Promise<void> {
    this.moreAfter[channelId] = false;
    this.held.release(channelId); // the newest page answers as of this socket's position: it has them
    delete this.byChannel[channelId];
    await this.loadHistory(channelId);
    this.app.unreads.markRead(channelId);
  }

  private closeWindow(channelId: string): void {
    this.moreAfter[channelId] = false;
    const held = this.held.release(channelId);
    if (this.byChannel[channelId]) this.byChannel[channelId] = join(this.byChannel[channelId], held, this.app.me?.id ?? '');
  }

  async loadHistory(channelId: string, older = false): Promise<number> {
    const held = this.byChannel[channelId] ?? [];
    const oldest = held.find((m) => !m.pending);
    const before = older && oldest ? `&before=${oldest.id}` : '';
    // Live messages that arrive while the page loads are held (and merged by id), and the
    // page answers from read models that have reached every event this socket has seen.
    const first = this.byChannel[channelId] === undefined;
    this.byChannel[channelId] ??= [];
    let page: Page<ServerMessage>;
    try {
      page = await this.app.api.request<Page<ServerMessage>>('GET', `/channels/${channelId}/messages?limit=50${before}`, undefined, {
        headers: this.seenHeaders(),
      });
    } catch (e) {
      if (first && !this.byChannel[channelId]?.length) delete this.byChannel[channelId]; // try again next open
      throw e;
    }
    const opened: Msg[] = [];
    for (const item of page.items) opened.push(await this.openMessage(item));
    this.byChannel[channelId] = prepend(this.byChannel[channelId] ?? [], opened);
    this.moreBefore[channelId] = page.items.length === 50;
    return opened.length;
  }

  /** A server message as the timeline shows it (decrypted when E2E): for the side panels. */
  show(s: ServerMessage): Promise<Msg> {
    return this.openMessage(s);
  }

  private async openMessage(s: ServerMessage): Promise<Msg> {
    const msg: Msg = {
      id: (s.id ?? s.message_id)!,
      channelId: s.channel_id,
      senderId: s.sender_id,
      ciphertext: s.ciphertext,
      encryption: s.encryption,
      type: s.message_type,
      text: null,
      replyTo: s.reply_to ?? null,
      createdAt: s.created_at ?? new Date().toISOString(),
      edited: !!s.edited_at,
      deleted: !!s.deleted,
      reactions: (s.reactions ?? []).map((r) => ({ emoji: r.emoji, user_ids: r.user_ids })),
      mentions: s.mentions ?? [],
      threadId: s.thread_id ?? null,
      replyCount: (s as { reply_count?: number }).reply_count ?? 0,
    };
    if (msg.senderId) void this.app.people.user(msg.senderId);
    if (msg.deleted || s.ciphertext === null) return msg;
    return { ...msg, ...(await this.decrypt(s.channel_id, s.sender_id, s.encryption, s.ciphertext)) };
  }

  /** One ciphertext's text (an older version of a message: edit history). */
  openText(channelId: string, sender: string | null, encryption: string, ciphertext: string): Promise<Pick<Msg, 'text' | 'problem'>> {
    return this.decrypt(channelId, sender, encryption, ciphertext);
  }

  private async decrypt(channelId: string, sender: string | null, encryption: string, ciphertext: string): Promise<Pick<Msg, 'text' | 'problem'>> {
    const secure = this.app.secure;
    try {
      if (encryption === 'none') return { text: base64ToUtf8(ciphertext) };
      if (encryption === 'double_ratchet' && sender && secure) {
        const peer = this.app.spaces.dmPeer(channelId)?.id ?? sender;
        return { text: await secure.openDm(peer, sender, ciphertext) };
      }
      if (encryption === 'sender_key' && sender && secure) {
        return { text: await secure.openGroup(channelId, sender, ciphertext) };
      }
      return { text: null, problem: 'cannot decrypt' };
    } catch (e) {
      if (e instanceof KeyChanged) {
        this.app.keyWarnings[e.peer] = true;
        return { text: null, problem: 'key changed' };
      }
      return { text: null, problem: 'cannot decrypt' };
    }
  }

  /** Send: shown at once (pending), sent with a client_id, answered by message_sent. */
  async send(channelId: string, text: string, replyTo: string | null = null, type = 'text', retry = true, threadId: string | null = null): Promise<void> {
    const app = this.app;
    const channel = app.spaces.channel(channelId);
    if (!channel || !app.me || !app.gateway) return;
    // a window far from the end: the end is loaded first (a send goes after the newest)
    if (this.moreAfter[channelId]) await this.toEnd(channelId);
    const clientId = crypto.randomUUID();
    let ciphertext: string;
    let encryption = 'none';
    let senderKeyId: number | null = null;
    if (channel.kind === 'dm') {
      const peer = app.spaces.dmPeer(channelId);
      if (!peer || !app.secure) throw new Error('no peer for this DM');
      if (app.keyWarnings[peer.id]) throw new KeyChanged(peer.id, new Uint8Array());
      try {
        ciphertext = await app.secure.encryptDm(peer.id, text);
      } catch (e) {
        if (e instanceof KeyChanged) {
          app.keyWarnings[peer.id] = true;
        }
        throw e;
      }
      encryption = 'double_ratchet';
    } else if (channel.e2e_required) {
      if (!app.secure) throw new Error('no encryption keys in this browser');
      const sealed = await app.secure.encryptGroup(channelId, await app.people.members(channelId), text);
      ciphertext = sealed.ciphertext;
      senderKeyId = sealed.chainId;
      encryption = 'sender_key';
    } else {
      ciphertext = utf8ToBase64(text);
    }
    const mentions = await app.people.mentionsIn(channelId, text);
    const msg: Msg = {
      id: `pending:${clientId}`,
      clientId,
      channelId,
      senderId: app.me.id,
      ciphertext,
      encryption,
      type,
      text,
      replyTo,
      threadId,
      createdAt: new Date().toISOString(),
      edited: false,
      deleted: false,
      reactions: [],
      pending: true,
    };
    this.byChannel[channelId] = [...(this.byChannel[channelId] ?? []), msg];
    try {
      const reply = await app.gateway!.command({
        type: 'send_message',
        channel_id: channelId,
        ciphertext,
        nonce: '',
        encryption,
        message_type: type,
        sender_key_id: senderKeyId,
        client_id: clientId,
        reply_to: replyTo,
        thread_id: threadId,
        mentions,
      });
      this.byChannel[channelId] = confirm(this.byChannel[channelId] ?? [], clientId, String(reply.id), String(reply.created_at));
      app.unreads.markRead(channelId);
    } catch (e) {
      if ((e as { code?: string }).code === 'e2e_required' && encryption === 'none' && retry) {
        // the channel became end-to-end encrypted since the sidebar was read: read it again, encrypt
        this.byChannel[channelId] = (this.byChannel[channelId] ?? []).filter((m) => m.id !== msg.id);
        await app.spaces.load();
        return this.send(channelId, text, replyTo, type, false, threadId);
      }
      this.byChannel[channelId] = update(this.byChannel[channelId] ?? [], msg.id, (m) => ({ ...m, pending: false, failed: (e as Error).message }));
    }
  }

  /** An attachment: uploaded (encrypted first in E2E conversations), then sent as a file message. */
  async sendFile(channelId: string, file: File): Promise<void> {
    const channel = this.app.spaces.channel(channelId);
    if (!channel) return;
    const body = await uploadFile(this.app.api, channelId, file, channel.kind === 'dm' || channel.e2e_required);
    await this.send(channelId, JSON.stringify(body), null, 'file');
  }

  async edit(msg: Msg, text: string): Promise<void> {
    const app = this.app;
    // An edit is sealed the way its message was: an E2E message's new text must never
    // reach the server readable (group edits used to go out as plain base64).
    let ciphertext: string;
    if (msg.encryption === 'double_ratchet') {
      ciphertext = await app.secure!.encryptDm(app.spaces.dmPeer(msg.channelId)!.id, text);
    } else if (msg.encryption === 'sender_key') {
      if (!app.secure) throw new Error('no encryption keys in this browser');
      const members = await app.people.members(msg.channelId);
      ciphertext = (await app.secure.encryptGroup(msg.channelId, members, text)).ciphertext;
    } else {
      ciphertext = utf8ToBase64(text);
    }
    const mentions = await app.people.mentionsIn(msg.channelId, text);
    await app.gateway!.command({ type: 'edit_message', message_id: msg.id, ciphertext, nonce: '', mentions });
    this.byChannel[msg.channelId] = update(this.byChannel[msg.channelId], msg.id, (m) => ({ ...m, text, ciphertext, edited: true }));
  }

  async remove(msg: Msg): Promise<void> {
    await this.app.gateway!.command({ type: 'delete_message', message_id: msg.id });
    this.byChannel[msg.channelId] = update(this.byChannel[msg.channelId], msg.id, (m) => ({ ...m, deleted: true, text: null }));
  }

  async toggleReaction(msg: Msg, emoji: string): Promise<void> {
    const mine = msg.reactions.find((r) => r.emoji === emoji)?.user_ids.includes(this.app.me!.id);
    await this.app.gateway!.command({ type: mine ? 'remove_reaction' : 'add_reaction', message_id: msg.id, emoji });
    this.byChannel[msg.channelId] = update(this.byChannel[msg.channelId], msg.id, (m) => ({ ...m, reactions: react(m.reactions, emoji, this.app.me!.id, !mine) }));
  }

  /** The decrypted messages of E2E conversations held in this page that hold `q` (the server cannot search those). */
  localSearch(q: string): LocalHit[] {
    const needle = q.toLowerCase();
    return Object.values(this.byChannel)
      .flat()
      .filter((m) => m.encryption !== 'none' && !m.deleted && m.type === 'text' && m.text?.toLowerCase().includes(needle))
      .map((m) => ({ channelId: m.channelId, messageId: m.id, senderId: m.senderId, snippet: m.text!.slice(0, 160), local: true }));
  }

  /**
   * A live message: into its channel's list when the list is held (or into the window's
   * hold), decrypted in order when it is a DM ratchet message for me. False when it was
   * held already (my own send's echo, a replayed frame): nothing more to count.
   */
  async receive(s: ServerMessage): Promise<boolean> {
    const ch = s.channel_id;
    const me = this.app.me?.id ?? '';
    if (this.held.holding(ch) || this.byChannel[ch]) {
      const msg = await this.openMessage(s);
      // a window loading or short of the end: held until scrolling down gets there
      if (!this.held.add(ch, msg) && this.byChannel[ch]) {
        const [list, fresh] = receive(this.byChannel[ch], msg, me);
        this.byChannel[ch] = list;
        if (!fresh) return false;
      }
    } else if (s.encryption === 'double_ratchet' && s.sender_id !== me) {
      // decrypt now, in order: the ratchet advances and the vault keeps the text
      await this.openMessage(s);
    }
    return true;
  }

  /** message_edited, message_deleted, reaction_added / reaction_removed: the held message changes. */
  async onFrame(f: Frame): Promise<void> {
    const ch = String(f.channel_id);
    if (!this.byChannel[ch]) return;
    switch (f.type) {
      case 'message_edited': {
        const id = String(f.message_id);
        const held = this.byChannel[ch].find((m) => m.id === id);
        if (!held || held.ciphertext === f.ciphertext) return;
        const opened = await this.decrypt(ch, held.senderId, held.encryption, String(f.ciphertext));
        this.byChannel[ch] = update(this.byChannel[ch], id, (m) => ({ ...m, ...opened, ciphertext: String(f.ciphertext), edited: true }));
        return;
      }
      case 'message_deleted':
        this.byChannel[ch] = update(this.byChannel[ch], String(f.message_id), (m) => ({ ...m, deleted: true, text: null }));
        return;
      case 'reaction_added':
      case 'reaction_removed':
        this.byChannel[ch] = update(this.byChannel[ch], String(f.message_id), (m) => ({
          ...m,
          reactions: react(m.reactions, String(f.emoji), String(f.user_id), f.type === 'reaction_added'),
        }));
        return;
    }
  }
}
