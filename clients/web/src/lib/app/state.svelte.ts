/**
 * The app's state and what changes it: the signed-in user, the sidebar (communities,
 * groups, channels, DMs, unreads), the open channel's messages, typing and presence, kept
 * current by the gateway. Components read it and call its methods; nothing else talks to
 * the server.
 */
import { Api, ApiError, jwtExpiry } from './api';
import { Gateway, type Frame } from './gateway';
import { KeyChanged, Secure, adoptKeys, blobStore, prepareKeys } from './secure';
import { Messages } from './messages.svelte';
import { forgetPosition, loadPosition, savePosition } from './positions';
import { Unreads } from './unreads.svelte';
import { People } from './people.svelte';
import type { Channel, Community, Dm, Group, ServerMessage, Unread, User } from './types';

type AuthReply = { access_token: string; refresh_token: string; user: User; recovery_code?: string | null };
import type { Page } from './types';
import { Settings } from './settings.svelte';

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
  current = $state<string | null>(null);
  /** Per-channel message lists, their windows, and what changes them (messages.svelte.ts). */
  readonly messages: Messages = new Messages(this);
  /** Unread counts, the unread divider, marking read, members' read cursors (unreads.svelte.ts). */
  readonly unreads: Unreads = new Unreads(this);
  /** The account's preferences and the notifications they decide (settings.svelte.ts). */
  readonly settings: Settings = new Settings(this);
  /** Profiles, presence, typing, channel members (people.svelte.ts). */
  readonly people: People = new People(this);
  /** Bumped on every poll event (poll_created, poll_voted, ...): open poll panels reload. */
  pollEvents = $state(0);
  /** Bumped on message_pinned / message_unpinned: an open pins panel reloads. */
  pinEvents = $state(0);
  keyWarnings = $state<Record<string, boolean>>({});
  recoveryCode = $state<string | null>(null);
  noKeys = $state(false);
  secure: Secure | null = null;
  /** The socket (set up on entering); the stores send their commands through it. */
  gateway: Gateway | null = null;
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
    this.messages.reset();
    this.communities = [];
    this.channels = [];
    this.dms = [];
    this.unreads.reset();
  }

  private async enter(user: User): Promise<void> {
    this.me = user;
    this.people.users[user.id] = user;
    const store = await blobStore();
    this.secure = new Secure(store, user.id, this.api);
    this.noKeys = !(await this.secure.hasKeys());
    await Promise.all([this.loadSidebar(), this.settings.load()]);
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
        if (s === 'live' && this.settings.prefs.presence !== 'online') this.gateway?.fire({ type: 'update_presence', status: this.settings.prefs.presence });
      },
    });
    this.gateway.start();
    this.entered = true;
    if (typeof document !== 'undefined') {
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'visible' && this.current) this.unreads.markRead(this.current);
      });
    }
  }

  /** A browser that lost its keys: new ones, confirmed with the password. */
  async resetKeys(password: string): Promise<void> {
    await this.secure!.resetKeys(password, await blobStore());
    this.noKeys = false;
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
    for (const dm of dms.items) if (dm.other_user) this.people.users[dm.other_user.id] = dm.other_user;
    this.unreads.replace(unread);
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

  async openDm(user: User): Promise<string> {
    const reply = await this.api.post<{ channel_id: string }>('/dms', { target_user_id: user.id });
    this.people.users[user.id] = user;
    await this.loadSidebar();
    await this.open(reply.channel_id);
    return reply.channel_id;
  }

  // --- the open channel -------------------------------------------------------------------

  async open(channelId: string): Promise<void> {
    this.current = channelId;
    this.unreads.placeMarker(channelId);
    if (!this.messages.byChannel[channelId]) await this.messages.loadHistory(channelId);
    this.unreads.markRead(channelId);
    void this.unreads.loadCursors(channelId);
  }

  /**
   * Search: the server's full-text search (plaintext channels), then the decrypted
   * messages of E2E conversations held in this page (the server cannot read those).
   */
  async search(q: string): Promise<{ channelId: string; messageId: string; senderId: string | null; snippet: string; local: boolean }[]> {
    const local = this.messages.localSearch(q);
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
    for (const r of [...local, ...remote]) if (r.senderId) void this.people.user(r.senderId);
    return [...remote, ...local];
  }

  async setE2e(channelId: string): Promise<void> {
    await this.api.patch(`/channels/${channelId}`, { e2e_required: true });
    await this.loadSidebar();
  }

  /** The user saw the key change: trust the new key (the next send uses it). */
  async acceptKeyChange(peer: string): Promise<void> {
    await this.secure!.acceptKey(peer);
    delete this.keyWarnings[peer];
  }

  // --- live events ------------------------------------------------------------------------

  private async onFrame(f: Frame): Promise<void> {
    switch (f.type) {
      case 'authenticated':
        this.settings.replaying = f.resuming === true; // the replay runs until `resumed`
        return;
      case 'resumed':
        this.settings.replaying = false;
        return this.unreads.recountAll(typeof f.position === 'string' ? f.position : null);
      case 'new_message':
        return this.onNewMessage(f as unknown as ServerMessage);
      case 'message_edited':
      case 'message_deleted':
      case 'reaction_added':
      case 'reaction_removed':
        return this.messages.onFrame(f);
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
      case 'user_typing':
      case 'user_stopped_typing':
      case 'user_profile_updated':
      case 'presence_update':
      case 'presence_bulk':
        this.people.onFrame(f);
        return;
      case 'read_receipt':
        this.unreads.onReceipt(f);
        return;
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
        this.unreads.recountNext(String(f.channel_id ?? (f.channel as { id?: string } | undefined)?.id));
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
      this.unreads.recountNext(ch);
      await this.loadSidebar();
    }
    const me = this.me?.id ?? '';
    if (!(await this.messages.receive(s))) return;
    if (s.sender_id === me) return;
    if (this.current === ch && typeof document !== 'undefined' && document.visibilityState === 'visible') {
      this.unreads.markRead(ch);
      return;
    }
    await this.unreads.count(s);
    this.settings.notify(ch, s);
  }
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof KeyChanged) return e.message;
  return e instanceof Error ? e.message : String(e);
}
