/**
 * The app's composition root: the session (register, log in, a saved session, log out, the
 * browser's keys), the gateway's wiring (one frame at a time, in order, the position kept;
 * each frame handed to the store it is about), the open channel and search. What the app
 * holds lives in the stores it composes, each given this root for what it needs of the
 * others: spaces (the sidebar's communities, groups, channels, DMs), messages (per-channel
 * lists and windows), unreads (counts, the divider, read cursors), people (profiles,
 * presence, typing, members) and settings (preferences and notifications). Components read
 * them through `app` and call their methods; nothing else talks to the server.
 */
import { Api, ApiError, jwtExpiry } from './api';
import { Gateway, type Frame } from './gateway';
import { KeyChanged, Secure, adoptKeys, blobStore, prepareKeys } from './secure';
import { forgetPosition, loadPosition, savePosition } from './positions';
import { Messages } from './messages.svelte';
import { People } from './people.svelte';
import { Settings } from './settings.svelte';
import { Spaces } from './spaces.svelte';
import { Unreads } from './unreads.svelte';
import type { Page, ServerMessage, User } from './types';

type AuthReply = { access_token: string; refresh_token: string; user: User; recovery_code?: string | null };

export type { Prefs } from './prefs';

export class ChatState {
  readonly api = new Api();
  me = $state<User | null>(null);
  ready = $state(false);
  /** Signed in with keys, sidebar and socket set up: a link's channel can open (not before: no keys yet). */
  entered = $state(false);
  connection = $state<'connecting' | 'live' | 'offline'>('offline');
  /** The channel on screen (its messages are marked read as they arrive while the page is visible). */
  current = $state<string | null>(null);
  /** Communities, groups, channels and DMs: what the sidebar shows (spaces.svelte.ts). */
  readonly spaces: Spaces = new Spaces(this);
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
  /** Peers whose identity key changed: nothing is sent to them until the user accepts the new key. */
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
    this.spaces.reset();
    this.unreads.reset();
  }

  private async enter(user: User): Promise<void> {
    this.me = user;
    this.people.users[user.id] = user;
    const store = await blobStore();
    this.secure = new Secure(store, user.id, this.api);
    this.noKeys = !(await this.secure.hasKeys());
    await Promise.all([this.spaces.load(), this.settings.load()]);
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
        await this.spaces.load();
        return;
      case 'channel_updated':
      case 'channel_deleted':
      case 'group_updated':
      case 'group_deleted':
      case 'community_updated':
      case 'member_kicked':
      case 'member_banned':
        await this.spaces.load();
        return;
    }
  }

  private async onNewMessage(s: ServerMessage): Promise<void> {
    const ch = s.channel_id;
    if (!this.spaces.channel(ch)) {
      this.unreads.recountNext(ch);
      await this.spaces.load();
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
