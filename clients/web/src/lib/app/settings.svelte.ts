/**
 * The account's preferences (theme, density, time format, receipts, presence, notification
 * levels and do-not-disturb: prefs.ts decodes them and decides alerts), shown at once and
 * kept on the server, and the notifications they decide for live messages (notify.ts plays
 * the chime and shows the desktop notification).
 */
import { DEFAULT_PREFS, alertFor, decodePrefs, encodeChange, type Prefs, type Presence } from './prefs';
import { playChime, showDesktop } from './notify';
import { base64ToUtf8 } from './secure';
import type { ServerMessage } from './types';
import type { ChatState } from './state.svelte';

export class Settings {
  prefs = $state<Prefs>({ ...DEFAULT_PREFS });
  /** True while the server replays what a resumed socket missed (no notifications for those). */
  replaying = false;

  constructor(private readonly app: ChatState) {}

  async load(): Promise<void> {
    try {
      const reply = await this.app.api.get<{ preferences: unknown }>('/account/preferences');
      this.prefs = decodePrefs(reply.preferences);
    } catch {
      this.prefs = { ...DEFAULT_PREFS };
    }
  }

  /** Shown at once; kept in the account (only the keys changed: the server merges). */
  async set(change: Partial<Prefs>): Promise<void> {
    const body = encodeChange(change);
    this.prefs = { ...this.prefs, ...change };
    try {
      await this.app.api.put('/account/preferences', { preferences: body });
    } catch (e) {
      await this.load();
      throw e;
    }
  }

  /** online / idle / dnd / invisible, for the people I share a channel with; kept in the preferences. */
  async setPresence(status: Presence): Promise<void> {
    const app = this.app;
    app.gateway?.fire({ type: 'update_presence', status });
    if (app.me) app.people.presence[app.me.id] = status === 'invisible' ? 'offline' : status;
    await this.set({ presence: status });
  }

  /** A live message: a chime and a desktop notification, as the preferences say (never for a replay). */
  notify(ch: string, s: ServerMessage): void {
    if (this.replaying) return;
    const app = this.app;
    const me = app.me?.id ?? '';
    const alert = alertFor(this.prefs, {
      channelId: ch,
      isDm: app.spaces.channel(ch)?.kind === 'dm',
      mentioned: (s.mentions ?? []).includes(me),
      fromMe: s.sender_id === me,
      watching: typeof document !== 'undefined' && document.visibilityState === 'visible' && app.current === ch,
    }, Date.now());
    if (alert.sound) playChime();
    if (!alert.desktop) return;
    const body =
      s.message_type === 'file' ? 'Sent a file' : s.encryption === 'none' && s.ciphertext ? base64ToUtf8(s.ciphertext).slice(0, 120) : 'New encrypted message';
    showDesktop(app.people.name(s.sender_id), body, ch, () => void app.open(ch));
  }
}
