/**
 * The app's state and what changes it: the signed-in user, the sidebar (communities,
 * groups, channels, DMs, unreads), the open channel's messages, typing and presence, kept
 * current by the gateway. Components read it and call its methods; nothing else talks to
 * the server.
 */
import { Api, ApiError, jwtExpiry } from './api';
import { Gateway, type Frame } from './gateway';
import { KeyChanged, Secure, adoptKeys, base64ToUtf8, blobStore, prepareKeys, utf8ToBase64 } from './secure';
import { uploadFile } from './files';
import { forgetPosition, loadPosition, savePosition } from './positions';
import { moveCursor, type Cursors } from './receipts';
import { declaredMentions, type Mentionable } from './mentions';
import { append, confirm, prepend, react, receive, update } from './timeline';
import { LiveHold, join, windowOf } from './windowing';
import type { Channel, Community, Dm, Group, Msg, ServerMessage, Unread, User } from './types';

type AuthReply = { access_token: string; refresh_token: string; user: User; recovery_code?: string | null };
import type { Page } from './types';
import { DEFAULT_PREFS, alertFor, decodePrefs, encodeChange, type Prefs, type Presence } from './prefs';
import { playChime, showDesktop } from './notify';

export type { Prefs } from './prefs';

export class ChatState {
  readonly api = new Api();
  me = $state<User | null>(null);
  ready = $state(false);
  /** Signed in with keys, sidebar and socket set up: a link's channel can open (not before: no keys yet). */
  entered = $state(false);
  connection = $state<'connecting' | 'live' | 'offline'>('offline');
  communities = $state<Community[]>([]);
  groups = $state<Record<string, Group[]>>({});
  myGroups = $state<string[]>([]);
  channels = $state<Channel[]>([]);
  dms = $state<Dm[]>([]);
  unread = $state<Record<string, Unread>>({});
  current = $state<string | null>(null);
  messages = $state<Record<string, Msg[]>>({});
  moreBefore = $state<Record<string, boolean>>({});
  /** Channels held as a window that does not reach the newest message (opened at a search hit). */
  moreAfter = $state<Record<string, boolean>>({});
  /** Per channel: the message to scroll to once shown (a search hit). */
  focus = $state<Record<string, string | null>>({});
  /** Live messages of a window channel (loading, or short of the end), merged when scrolling down reaches the end. */
  private held = new LiveHold();
  /** Bumped on every poll event (poll_created, poll_voted, ...): open poll panels reload. */
  pollEvents = $state(0);
  /** Bumped on message_pinned / message_unpinned: an open pins panel reloads. */
  pinEvents = $state(0);
  /** Channels new to this page whose next message's unread count is read from the server. */
  private recount = new Set<string>();
  typing = $state<Record<string, Record<string, number>>>({});
  presence = $state<Record<string, string>>({});
  users = $state<Record<string, User>>({});
  /** Per channel: its members as last fetched (mention autocomplete). */
  private mentionable: Record<string, { at: number; members: Mentionable[] }> = {};
  keyWarnings = $state<Record<string, boolean>>({});
  /** Per channel: the last message read when it was opened (the unread divider goes after it). */
  readMarker = $state<Record<string, string | null>>({});
  prefs = $state<Prefs>({ ...DEFAULT_PREFS });
  /** Per channel: members' read cursors (user id -> message id), for "Seen by" (receipts.ts). */
  readCursors = $state<Record<string, Cursors>>({});
  recoveryCode = $state<string | null>(null);
  noKeys = $state(false);
  secure: Secure | null = null;
  private gateway: Gateway | null = null;
  private frames: Promise<void> = Promise.resolve();

  constructor() {
    this.api.onSignedOut = () => this.reset();
  }

  // --- session ----------------------------------------------------------------------------

  /** On load: a saved session goes straight in. */
  async boot(): Promise<void> {
    if (this.api.tokens) {
      try {
        await this.enter(await this.api.get<User>('/account/me'));
      } catch {
        this.api.setTokens(null);
      }
    }
    this.ready = true;
  }

  async register(username: string, password: string, displayName: string, inviteCode?: string): Promise<void> {
    const store = await blobStore();
    const { pendingId, upload } = await prepareKeys(store);
    const reply = await this.api.post<AuthReply>('/auth/register', {
      username,
      password,
      display_name: displayName || null,
      invite_code: inviteCode || null,
      ...upload,
    });
    await adoptKeys(store, pendingId, reply.user.id);
    this.api.setTokens(reply);
    this.recoveryCode = reply.recovery_code ?? null;
    await this.enter(reply.user);
  }

  async login(username: string, password: string, totp?: string): Promise<void> {
    const reply = await this.api.post<AuthReply>('/auth/login', {
      username,
      password,
      totp_code: totp || null,
      device_name: navigator.userAgent.slice(0, 120),
    });
    this.api.setTokens(reply);
    await this.enter(reply.user);
  }

  async logout(everywhere = false): Promise<void> {
    try {
      if (everywhere) await this.api.post('/account/sessions/revoke-all');
    } catch {
      /* signed out locally either way */
    }
    this.reset();
  }

  private reset(): void {
    this.gateway?.stop();
    this.gateway = null;
    this.api.setTokens(null);
    this.entered = false;
    this.me = null;
    this.current = null;
    this.messages = {};
    this.communities = [];
    this.channels = [];
    this.dms = [];
    this.unread = {};
  }

  private async enter(user: User): Promise<void> {
    this.me = user;
    this.users[user.id] = user;
    const store = await blobStore();
    this.secure = new Secure(store, user.id, this.api);
    this.noKeys = !(await this.secure.hasKeys());
    await Promise.all([this.loadSidebar(), this.loadPrefs()]);
    this.gateway = new Gateway({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
      token: async () => {
        if (!this.api.tokens) return null;
        const exp = jwtExpiry(this.api.tokens.access_token) * 1000;
        if (exp - Date.now() < 60_000) await this.api.refresh();
        return this.api.tokens?.access_token ?? null;
      },
      // resume where this account's last page stopped (positions.ts): no gap after a reload
      position: loadPosition(user.id),
      onPositionRefused: () => forgetPosition(user.id),
      // one frame at a time, in order: DM ratchets need the server's order; the position is
      // kept once its frame is handled (a reload mid-frame replays it, the timeline drops doubles)
      onFrame: (f) => {
        this.frames = this.frames
          .then(() => this.onFrame(f))
          .catch((e) => console.error('frame', f.type, e))
          .then(() => {
            if (typeof f.position === 'string' && f.type !== 'message_sent' && f.type !== 'ack' && this.me?.id === user.id) savePosition(user.id, f.position);
          });
      },
      onState: (s) => {
        this.connection = s;
        // the server starts every connection online: a chosen presence is said again
        if (s === 'live' && this.prefs.presence !== 'online') this.gateway?.fire({ type: 'update_presence', status: this.prefs.presence });
      },
    });
    this.gateway.start();
    this.entered = true;
    if (typeof document !== 'undefined') {
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'visible' && this.current) this.markRead(this.current);
      });
    }
  }

  /** A browser that lost its keys: new ones, confirmed with the password. */
  async resetKeys(password: string): Promise<void> {
    await this.secure!.resetKeys(password, await blobStore());
    this.noKeys = false;
  }

  // --- preferences ------------------------------------------------------------------------

  private async loadPrefs(): Promise<void> {
    try {
      const reply = await this.api.get<{ preferences: unknown }>('/account/preferences');
      this.prefs = decodePrefs(reply.preferences);
    } catch {
      this.prefs = { ...DEFAULT_PREFS };
    }
  }

  /** Shown at once; kept in the account (only the keys changed: the server merges). */
  async setPrefs(change: Partial<Prefs>): Promise<void> {
    const body = encodeChange(change);
    this.prefs = { ...this.prefs, ...change };
    try {
      await this.api.put('/account/preferences', { preferences: body });
    } catch (e) {
      await this.loadPrefs();
      throw e;
    }
  }

  /** online / idle / dnd / invisible, for the people I share a channel with; kept in the preferences. */
  async setPresence(status: Presence): Promise<void> {
    this.gateway?.fire({ type: 'update_presence', status });
    if (this.me) this.presence[this.me.id] = status === 'invisible' ? 'offline' : status;
    await this.setPrefs({ presence: status });
  }

  // --- sidebar ----------------------------------------------------------------------------

  private sidebarLoads = 0;

  /** Everything the sidebar shows; of loads that overlap, only the latest one's answers are kept. */
  async loadSidebar(): Promise<void> {
    const load = ++this.sidebarLoads;
    const [communities, myGroups, channels, dms, unread] = await Promise.all([
      this.api.get<Community[]>('/communities'),
      this.api.get<Group[]>('/groups'),
      this.api.get<Channel[]>('/channels'),
      this.api.get<Page<Dm>>('/dms?limit=100'),
      this.api.get<Unread[]>('/channels/unread'),
    ]);
    const groups = await Promise.all(communities.map((c) => this.api.get<Group[]>(`/communities/${c.id}/groups`)));
    if (load !== this.sidebarLoads) return;
    this.communities = communities;
    this.myGroups = myGroups.map((g) => g.id);
    this.channels = channels;
    this.dms = dms.items;
    for (const dm of dms.items) if (dm.other_user) this.users[dm.other_user.id] = dm.other_user;
    this.unread = Object.fromEntries(unread.map((u) => [u.channel_id, u]));
    this.groups = Object.fromEntries(communities.map((c, i) => [c.id, groups[i]]));
  }

  channel(id: string | null): Channel | undefined {
    if (!id) return undefined;
    return this.channels.find((c) => c.id === id) ?? this.dms.find((d) => d.channel.id === id)?.channel;
  }

  dmPeer(channelId: string): User | null {
    return this.dms.find((d) => d.channel.id === channelId)?.other_user ?? null;
  }

  /** `open`: public and listed in discovery (anyone may find and join it). */
  async createCommunity(name: string, open = false): Promise<string> {
    const { id } = await this.api.post<{ id: string }>('/communities', { name, public: open, discoverable: open });
    await this.loadSidebar();
    return id;
  }

  async createGroup(communityId: string, name: string): Promise<string> {
    const { id } = await this.api.post<{ id: string }>('/groups', { community_id: communityId, name });
    await this.loadSidebar();
    return id;
  }

  async createChannel(groupId: string, name: string): Promise<string> {
    const { id } = await this.api.post<{ id: string }>(`/groups/${groupId}/channels`, { name });
    await this.loadSidebar();
    return id;
  }

  async joinGroup(groupId: string): Promise<void> {
    await this.api.post(`/groups/${groupId}/join`);
    await this.loadSidebar();
  }

  async createInvite(communityId: string): Promise<string> {
    const invite = await this.api.post<{ code: string }>(`/communities/${communityId}/invites`, {});
    return invite.code;
  }

  async acceptInvite(code: string): Promise<void> {
    const joined = await this.api.post<{ community_id: string; group_id: string | null }>(`/community-invites/${encodeURIComponent(code.trim())}/accept`);
    await this.loadSidebar();
    // Join the community's public groups at once: its channels show up in the sidebar.
    for (const g of this.groups[joined.community_id] ?? []) {
      if (!this.myGroups.includes(g.id) && g.public) await this.api.post(`/groups/${g.id}/join`).catch(() => {});
    }
    await this.loadSidebar();
  }

  async searchUsers(q: string): Promise<User[]> {
    const found = await this.api.get<User[] | Page<User>>(`/users/search?q=${encodeURIComponent(q)}`);
    return Array.isArray(found) ? found : found.items;
  }

  async openDm(user: User): Promise<string> {
    const reply = await this.api.post<{ channel_id: string }>('/dms', { target_user_id: user.id });
    this.users[user.id] = user;
    await this.loadSidebar();
    await this.open(reply.channel_id);
    return reply.channel_id;
  }

  async markAllRead(): Promise<void> {
    await this.gateway?.command({ type: 'mark_all_read' }).catch(() => {});
    this.unread = {};
  }

  // --- the open channel -------------------------------------------------------------------

  async open(channelId: string): Promise<void> {
    this.current = channelId;
    const unread = this.unread[channelId];
    this.readMarker[channelId] = unread && unread.unread_count > 0 ? (unread.last_read_message_id ?? null) : null;
    if (!this.messages[channelId]) await this.loadHistory(channelId);
    this.markRead(channelId);
    void this.loadCursors(channelId);
  }

  /**
   * Open a channel at one message (a search hit): the page around it, then pages both ways
   * as the view scrolls (loadHistory older, loadNewer newer) until it meets the live end.
   */
  async openAt(channelId: string, messageId: string): Promise<void> {
    if (this.messages[channelId]?.some((m) => m.id === messageId)) {
      this.focus[channelId] = messageId;
      return this.open(channelId);
    }
    const seen = this.gateway?.position;
    const headers: Record<string, string> = seen ? { 'Chatalot-Min-Position': seen } : {};
    const get = (q: string) => this.api.request<Page<ServerMessage>>('GET', `/channels/${channelId}/messages?${q}`, undefined, { headers });
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
      await this.open(channelId);
      if (this.messages[channelId]) this.messages[channelId] = join(this.messages[channelId], held, this.me?.id ?? '');
      return;
    }
    const opened: Msg[][] = [[], []];
    for (const [i, page] of [older, newer].entries()) for (const item of page.items) opened[i].push(await this.openMessage(item));
    const w = windowOf(opened[0], opened[1], 25);
    this.messages[channelId] = w.list;
    this.moreBefore[channelId] = w.moreBefore;
    this.moreAfter[channelId] = w.moreAfter;
    this.focus[channelId] = messageId;
    if (!w.moreAfter) this.closeWindow(channelId);
    await this.open(channelId);
  }

  /** The next page after the window's newest message; at the end, the live messages held meanwhile join. */
  async loadNewer(channelId: string): Promise<void> {
    if (!this.moreAfter[channelId]) return;
    const newest = [...(this.messages[channelId] ?? [])].reverse().find((m) => !m.pending);
    if (!newest) return;
    const seen = this.gateway?.position;
    const page = await this.api.request<Page<ServerMessage>>('GET', `/channels/${channelId}/messages?after=${newest.id}&limit=50`, undefined, {
      headers: seen ? { 'Chatalot-Min-Position': seen } : {},
    });
    const opened: Msg[] = [];
    for (const item of page.items) opened.push(await this.openMessage(item));
    this.messages[channelId] = append(this.messages[channelId] ?? [], opened);
    if (page.items.length < 50) this.closeWindow(channelId);
  }

  /** Leave a window for the channel's newest messages (and live ones). */
  async toEnd(channelId: string): Promise<void> {
    this.moreAfter[channelId] = false;
    this.held.release(channelId); // the newest page answers as of this socket's position: it has them
    delete this.messages[channelId];
    await this.loadHistory(channelId);
    this.markRead(channelId);
  }

  private closeWindow(channelId: string): void {
    this.moreAfter[channelId] = false;
    const held = this.held.release(channelId);
    if (this.messages[channelId]) this.messages[channelId] = join(this.messages[channelId], held, this.me?.id ?? '');
  }

  async loadHistory(channelId: string, older = false): Promise<number> {
    const held = this.messages[channelId] ?? [];
    const oldest = held.find((m) => !m.pending);
    const before = older && oldest ? `&before=${oldest.id}` : '';
    // Live messages that arrive while the page loads are held (and merged by id), and the
    // page answers from read models that have reached every event this socket has seen.
    const first = this.messages[channelId] === undefined;
    this.messages[channelId] ??= [];
    const seen = this.gateway?.position;
    let page: Page<ServerMessage>;
    try {
      page = await this.api.request<Page<ServerMessage>>('GET', `/channels/${channelId}/messages?limit=50${before}`, undefined, {
        headers: seen ? { 'Chatalot-Min-Position': seen } : {},
      });
    } catch (e) {
      if (first && !this.messages[channelId]?.length) delete this.messages[channelId]; // try again next open
      throw e;
    }
    const opened: Msg[] = [];
    for (const item of page.items) opened.push(await this.openMessage(item));
    this.messages[channelId] = prepend(this.messages[channelId] ?? [], opened);
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
    if (msg.senderId) void this.user(msg.senderId);
    if (msg.deleted || s.ciphertext === null) return msg;
    return { ...msg, ...(await this.decrypt(s.channel_id, s.sender_id, s.encryption, s.ciphertext)) };
  }

  /** One ciphertext's text (an older version of a message: edit history). */
  openText(channelId: string, sender: string | null, encryption: string, ciphertext: string): Promise<Pick<Msg, 'text' | 'problem'>> {
    return this.decrypt(channelId, sender, encryption, ciphertext);
  }

  private async decrypt(channelId: string, sender: string | null, encryption: string, ciphertext: string): Promise<Pick<Msg, 'text' | 'problem'>> {
    try {
      if (encryption === 'none') return { text: base64ToUtf8(ciphertext) };
      if (encryption === 'double_ratchet' && sender && this.secure) {
        const peer = this.dmPeer(channelId)?.id ?? sender;
        return { text: await this.secure.openDm(peer, sender, ciphertext) };
      }
      if (encryption === 'sender_key' && sender && this.secure) {
        return { text: await this.secure.openGroup(channelId, sender, ciphertext) };
      }
      return { text: null, problem: 'cannot decrypt' };
    } catch (e) {
      if (e instanceof KeyChanged) {
        this.keyWarnings[e.peer] = true;
        return { text: null, problem: 'key changed' };
      }
      return { text: null, problem: 'cannot decrypt' };
    }
  }

  async user(id: string): Promise<User | undefined> {
    if (this.users[id]) return this.users[id];
    try {
      const u = await this.api.get<User>(`/users/${id}`);
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

  /** Send: shown at once (pending), sent with a client_id, answered by message_sent. */
  async send(channelId: string, text: string, replyTo: string | null = null, type = 'text', retry = true, threadId: string | null = null): Promise<void> {
    const channel = this.channel(channelId);
    if (!channel || !this.me || !this.gateway) return;
    // a window far from the end: the end is loaded first (a send goes after the newest)
    if (this.moreAfter[channelId]) await this.toEnd(channelId);
    const clientId = crypto.randomUUID();
    let ciphertext: string;
    let encryption = 'none';
    let senderKeyId: number | null = null;
    if (channel.kind === 'dm') {
      const peer = this.dmPeer(channelId);
      if (!peer || !this.secure) throw new Error('no peer for this DM');
      if (this.keyWarnings[peer.id]) throw new KeyChanged(peer.id, new Uint8Array());
      try {
        ciphertext = await this.secure.encryptDm(peer.id, text);
      } catch (e) {
        if (e instanceof KeyChanged) {
          this.keyWarnings[peer.id] = true;
        }
        throw e;
      }
      encryption = 'double_ratchet';
    } else if (channel.e2e_required) {
      if (!this.secure) throw new Error('no encryption keys in this browser');
      const sealed = await this.secure.encryptGroup(channelId, await this.members(channelId), text);
      ciphertext = sealed.ciphertext;
      senderKeyId = sealed.chainId;
      encryption = 'sender_key';
    } else {
      ciphertext = utf8ToBase64(text);
    }
    const mentions = await this.mentionsIn(channelId, text);
    const msg: Msg = {
      id: `pending:${clientId}`,
      clientId,
      channelId,
      senderId: this.me.id,
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
    this.messages[channelId] = [...(this.messages[channelId] ?? []), msg];
    try {
      const reply = await this.gateway.command({
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
      this.messages[channelId] = confirm(this.messages[channelId] ?? [], clientId, String(reply.id), String(reply.created_at));
      this.markRead(channelId);
    } catch (e) {
      if ((e as { code?: string }).code === 'e2e_required' && encryption === 'none' && retry) {
        // the channel became end-to-end encrypted since the sidebar was read: read it again, encrypt
        this.messages[channelId] = (this.messages[channelId] ?? []).filter((m) => m.id !== msg.id);
        await this.loadSidebar();
        return this.send(channelId, text, replyTo, type, false, threadId);
      }
      this.messages[channelId] = update(this.messages[channelId] ?? [], msg.id, (m) => ({ ...m, pending: false, failed: (e as Error).message }));
    }
  }

  /**
   * Search: the server's full-text search (plaintext channels), then the decrypted
   * messages of E2E conversations held in this page (the server cannot read those).
   */
  async search(q: string): Promise<{ channelId: string; messageId: string; senderId: string | null; snippet: string; local: boolean }[]> {
    const needle = q.toLowerCase();
    const local = Object.values(this.messages)
      .flat()
      .filter((m) => m.encryption !== 'none' && !m.deleted && m.type === 'text' && m.text?.toLowerCase().includes(needle))
      .map((m) => ({ channelId: m.channelId, messageId: m.id, senderId: m.senderId, snippet: m.text!.slice(0, 160), local: true }));
    const page = await this.api.get<Page<{ message_id: string; channel_id: string; sender_id: string | null; snippet: string }>>(
      `/messages/search?q=${encodeURIComponent(q)}&limit=25`,
    );
    const remote = page.items.map((h) => ({
      channelId: h.channel_id,
      messageId: h.message_id,
      senderId: h.sender_id,
      snippet: h.snippet.replace(/<[^>]*>/g, ''),
      local: false,
    }));
    for (const r of [...local, ...remote]) if (r.senderId) void this.user(r.senderId);
    return [...remote, ...local];
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
      const page: Page<{ user_id: string; username: string | null; display_name: string | null }> = await this.api.get(
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
  private async mentionsIn(channelId: string, text: string): Promise<string[]> {
    if (!text.includes('@')) return [];
    return declaredMentions(text, await this.memberList(channelId));
  }

  async setE2e(channelId: string): Promise<void> {
    await this.api.patch(`/channels/${channelId}`, { e2e_required: true });
    await this.loadSidebar();
  }

  /** An attachment: uploaded (encrypted first in E2E conversations), then sent as a file message. */
  async sendFile(channelId: string, file: File): Promise<void> {
    const channel = this.channel(channelId);
    if (!channel) return;
    const body = await uploadFile(this.api, channelId, file, channel.kind === 'dm' || channel.e2e_required);
    await this.send(channelId, JSON.stringify(body), null, 'file');
  }

  /** The user saw the key change: trust the new key (the next send uses it). */
  async acceptKeyChange(peer: string): Promise<void> {
    await this.secure!.acceptKey(peer);
    delete this.keyWarnings[peer];
  }

  async edit(msg: Msg, text: string): Promise<void> {
    // An edit is sealed the way its message was: an E2E message's new text must never
    // reach the server readable (group edits used to go out as plain base64).
    let ciphertext: string;
    if (msg.encryption === 'double_ratchet') {
      ciphertext = await this.secure!.encryptDm(this.dmPeer(msg.channelId)!.id, text);
    } else if (msg.encryption === 'sender_key') {
      if (!this.secure) throw new Error('no encryption keys in this browser');
      const members = await this.members(msg.channelId);
      ciphertext = (await this.secure.encryptGroup(msg.channelId, members, text)).ciphertext;
    } else {
      ciphertext = utf8ToBase64(text);
    }
    const mentions = await this.mentionsIn(msg.channelId, text);
    await this.gateway!.command({ type: 'edit_message', message_id: msg.id, ciphertext, nonce: '', mentions });
    this.messages[msg.channelId] = update(this.messages[msg.channelId], msg.id, (m) => ({ ...m, text, ciphertext, edited: true }));
  }

  async remove(msg: Msg): Promise<void> {
    await this.gateway!.command({ type: 'delete_message', message_id: msg.id });
    this.messages[msg.channelId] = update(this.messages[msg.channelId], msg.id, (m) => ({ ...m, deleted: true, text: null }));
  }

  async toggleReaction(msg: Msg, emoji: string): Promise<void> {
    const mine = msg.reactions.find((r) => r.emoji === emoji)?.user_ids.includes(this.me!.id);
    await this.gateway!.command({ type: mine ? 'remove_reaction' : 'add_reaction', message_id: msg.id, emoji });
    this.messages[msg.channelId] = update(this.messages[msg.channelId], msg.id, (m) => ({ ...m, reactions: react(m.reactions, emoji, this.me!.id, !mine) }));
  }

  private lastTyping = 0;
  typed(channelId: string): void {
    if (Date.now() - this.lastTyping < 3000) return;
    this.lastTyping = Date.now();
    this.gateway?.fire({ type: 'typing', channel_id: channelId });
  }

  markRead(channelId: string): void {
    if (this.moreAfter[channelId]) return; // a window short of the end: its last message is not the newest
    const list = this.messages[channelId] ?? [];
    const last = [...list].reverse().find((m) => !m.pending && !m.id.startsWith('pending:'));
    if (this.unread[channelId]) delete this.unread[channelId];
    if (last) this.gateway?.command({ type: 'mark_read', channel_id: channelId, message_id: last.id }).catch(() => {});
  }

  typingNames(channelId: string): string[] {
    const now = Date.now();
    return Object.entries(this.typing[channelId] ?? {})
      .filter(([u, until]) => until > now && u !== this.me?.id)
      .map(([u]) => this.name(u));
  }

  /** Members' read cursors (first page: receipts are shown for small audiences). */
  private async loadCursors(channelId: string): Promise<void> {
    const page = await this.api
      .get<Page<{ user_id: string; last_read_message_id: string }>>(`/channels/${channelId}/read-cursors?limit=100`)
      .catch(() => null);
    if (!page) return;
    let cursors: Cursors = { ...(this.readCursors[channelId] ?? {}) };
    for (const c of page.items) cursors = moveCursor(cursors, this.messages[channelId] ?? [], c.user_id, c.last_read_message_id);
    this.readCursors[channelId] = cursors;
  }

  // --- live events ------------------------------------------------------------------------

  /** True while the server replays what a resumed socket missed (no notifications for those). */
  private replaying = false;

  private async onFrame(f: Frame): Promise<void> {
    switch (f.type) {
      case 'authenticated':
        this.replaying = f.resuming === true; // the replay runs until `resumed`
        return;
      case 'resumed':
        this.replaying = false;
        return this.recountUnread(typeof f.position === 'string' ? f.position : null);
      case 'new_message':
        return this.onNewMessage(f as unknown as ServerMessage);
      case 'message_edited': {
        const id = String(f.message_id);
        const ch = String(f.channel_id);
        const list = this.messages[ch];
        if (!list) return;
        const held = list.find((m) => m.id === id);
        if (!held || (held.ciphertext === f.ciphertext)) return;
        const opened = await this.decrypt(ch, held.senderId, held.encryption, String(f.ciphertext));
        this.messages[ch] = update(this.messages[ch], id, (m) => ({ ...m, ...opened, ciphertext: String(f.ciphertext), edited: true }));
        return;
      }
      case 'message_deleted': {
        const ch = String(f.channel_id);
        if (this.messages[ch]) this.messages[ch] = update(this.messages[ch], String(f.message_id), (m) => ({ ...m, deleted: true, text: null }));
        return;
      }
      case 'message_pinned':
      case 'message_unpinned':
        this.pinEvents += 1;
        return;
      case 'poll_created':
      case 'poll_voted':
      case 'poll_vote_removed':
      case 'poll_closed':
        this.pollEvents += 1;
        return;
      case 'reaction_added':
      case 'reaction_removed': {
        const ch = String(f.channel_id);
        if (!this.messages[ch]) return;
        this.messages[ch] = update(this.messages[ch], String(f.message_id), (m) => ({
          ...m,
          reactions: react(m.reactions, String(f.emoji), String(f.user_id), f.type === 'reaction_added'),
        }));
        return;
      }
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
        if (this.me?.id === id) this.me = { ...this.me, ...change };
        return;
      }
      case 'read_receipt': {
        const ch = String(f.channel_id);
        this.readCursors[ch] = moveCursor(this.readCursors[ch] ?? {}, this.messages[ch] ?? [], String(f.user_id), String(f.message_id));
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
      case 'sender_key_updated':
        await this.secure?.receiveDistribution(String(f.channel_id), String(f.sender_id), String(f.envelope));
        return;
      case 'sender_key_rotation_required': {
        const ch = String(f.channel_id);
        if (f.user_id !== this.me?.id) await this.secure?.rotate(ch);
        return;
      }
      case 'identity_key_changed':
        this.keyWarnings[String(f.user_id)] = true;
        return;
      case 'new_dm_channel':
        // the sidebar's unread counts may or may not include the DM's first message yet
        this.recount.add(String(f.channel_id ?? (f.channel as { id?: string } | undefined)?.id));
        await this.loadSidebar();
        return;
      case 'channel_updated':
      case 'channel_deleted':
      case 'group_updated':
      case 'group_deleted':
      case 'community_updated':
      case 'member_kicked':
      case 'member_banned':
        await this.loadSidebar();
        return;
    }
  }

  private async onNewMessage(s: ServerMessage): Promise<void> {
    const ch = s.channel_id;
    if (!this.channel(ch)) {
      this.recount.add(ch);
      await this.loadSidebar();
    }
    const me = this.me?.id ?? '';
    if (this.held.holding(ch) || this.messages[ch]) {
      const msg = await this.openMessage(s);
      // a window loading or short of the end: held until scrolling down gets there
      if (!this.held.add(ch, msg) && this.messages[ch]) {
        const [list, fresh] = receive(this.messages[ch], msg, me);
        this.messages[ch] = list;
        if (!fresh) return;
      }
    } else if (s.encryption === 'double_ratchet' && s.sender_id !== me) {
      // decrypt now, in order: the ratchet advances and the vault keeps the text
      await this.openMessage(s);
    }
    if (s.sender_id === me) return;
    if (this.current === ch && typeof document !== 'undefined' && document.visibilityState === 'visible') {
      this.markRead(ch);
      return;
    }
    if (this.recount.delete(ch)) {
      // counts read while this channel was new may already hold this message: ask the server
      // as of this message (never counted twice)
      const all = await this.api
        .request<Unread[]>('GET', '/channels/unread', undefined, { headers: s.position ? { 'Chatalot-Min-Position': s.position } : {} })
        .catch(() => null);
      const item = all?.find((u) => u.channel_id === ch);
      if (all) {
        if (item) this.unread[ch] = item;
        this.notify(ch, s);
        return;
      }
    }
    const held = (this.messages[ch] ?? []).filter((m) => m.id !== (s.id ?? s.message_id));
    const u = this.unread[ch] ?? { channel_id: ch, unread_count: 0, mention_count: 0, last_read_message_id: held.at(-1)?.id ?? null };
    const mentioned = (s.mentions ?? []).includes(me);
    this.unread[ch] = { ...u, unread_count: u.unread_count + 1, mention_count: u.mention_count + (mentioned ? 1 : 0) };
    this.notify(ch, s);
  }

  /**
   * After a replay the counts are read again as of the resumed position: the sidebar read
   * before the socket opened may already hold replayed messages, which were added again.
   */
  private async recountUnread(position: string | null): Promise<void> {
    const all = await this.api
      .request<Unread[]>('GET', '/channels/unread', undefined, { headers: position ? { 'Chatalot-Min-Position': position } : {} })
      .catch(() => null);
    if (!all) return;
    const open = this.current && typeof document !== 'undefined' && document.visibilityState === 'visible' ? this.current : null;
    this.unread = Object.fromEntries(all.filter((u) => u.channel_id !== open).map((u) => [u.channel_id, u]));
    if (open) this.markRead(open);
  }

  private notify(ch: string, s: ServerMessage): void {
    if (this.replaying) return;
    const me = this.me?.id ?? '';
    const alert = alertFor(this.prefs, {
      channelId: ch,
      isDm: this.channel(ch)?.kind === 'dm',
      mentioned: (s.mentions ?? []).includes(me),
      fromMe: s.sender_id === me,
      watching: typeof document !== 'undefined' && document.visibilityState === 'visible' && this.current === ch,
    }, Date.now());
    if (alert.sound) playChime();
    if (!alert.desktop) return;
    const body =
      s.message_type === 'file' ? 'Sent a file' : s.encryption === 'none' && s.ciphertext ? base64ToUtf8(s.ciphertext).slice(0, 120) : 'New encrypted message';
    showDesktop(this.name(s.sender_id), body, ch, () => void this.open(ch));
  }
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof KeyChanged) return e.message;
  return e instanceof Error ? e.message : String(e);
}
