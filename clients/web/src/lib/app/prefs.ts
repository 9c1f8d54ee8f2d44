/**
 * The account's preferences as the app keeps them (`GET/PUT /account/preferences`: a JSON
 * object merged at the top level, `null` removing a key, 16 KiB in all). Another client or
 * an older version of this one may have written anything there, so every field is read
 * defensively: a missing or malformed value falls back to its default and is never sent
 * back unless the user changes it.
 */

export type Theme = 'dark' | 'light';
export type Accent = 'violet' | 'blue' | 'green' | 'orange' | 'pink';
export type Density = 'comfortable' | 'compact';
export type TimeFormat = 'auto' | '12h' | '24h';
/** A notification level: every message, mentions (and DMs) only, or nothing. */
export type Level = 'all' | 'mentions' | 'nothing';
export type Presence = 'online' | 'idle' | 'dnd' | 'invisible';

export interface Prefs {
  theme: Theme;
  accent: Accent;
  density: Density;
  time_format: TimeFormat;
  read_receipts: boolean;
  /** The default level, for channels without one of their own. */
  notifications: Level;
  /** Per channel id: a level that overrides the default. */
  channel_notifications: Record<string, Level>;
  desktop_notifications: boolean;
  sounds: boolean;
  /** Do not disturb: no desktop notification, no sound. */
  dnd: boolean;
  /** When do-not-disturb ends by itself (epoch ms), or null: until turned off. */
  dnd_until: number | null;
  /** The presence chosen in the profile, sent again on every connection. */
  presence: Presence;
}

export const THEMES: readonly Theme[] = ['dark', 'light'];
export const ACCENTS: readonly Accent[] = ['violet', 'blue', 'green', 'orange', 'pink'];
export const DENSITIES: readonly Density[] = ['comfortable', 'compact'];
export const TIME_FORMATS: readonly TimeFormat[] = ['auto', '12h', '24h'];
export const LEVELS: readonly Level[] = ['all', 'mentions', 'nothing'];
export const PRESENCES: readonly Presence[] = ['online', 'idle', 'dnd', 'invisible'];
/** At most this many per-channel levels (each ~50 bytes: the whole object stays far below 16 KiB). */
export const MAX_CHANNEL_LEVELS = 200;

export const DEFAULT_PREFS: Readonly<Prefs> = Object.freeze({
  theme: 'dark',
  accent: 'violet',
  density: 'comfortable',
  time_format: 'auto',
  read_receipts: true,
  notifications: 'mentions',
  channel_notifications: {},
  desktop_notifications: true,
  sounds: false,
  dnd: false,
  dnd_until: null,
  presence: 'online',
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T): T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? (value as T) : fallback;
}

function bool(value: unknown, fallback: boolean): boolean {
  return typeof value === 'boolean' ? value : fallback;
}

/** The server's object (anything) as Prefs: malformed fields take their defaults. */
export function decodePrefs(raw: unknown): Prefs {
  const o = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const levels: Record<string, Level> = {};
  const map = o.channel_notifications;
  if (map !== null && typeof map === 'object' && !Array.isArray(map)) {
    for (const [id, level] of Object.entries(map as Record<string, unknown>)) {
      if (UUID.test(id) && (LEVELS as readonly unknown[]).includes(level)) levels[id.toLowerCase()] = level as Level;
    }
  }
  const until = o.dnd_until;
  return {
    theme: oneOf(o.theme, THEMES, DEFAULT_PREFS.theme),
    accent: oneOf(o.accent, ACCENTS, DEFAULT_PREFS.accent),
    density: oneOf(o.density, DENSITIES, DEFAULT_PREFS.density),
    time_format: oneOf(o.time_format, TIME_FORMATS, DEFAULT_PREFS.time_format),
    read_receipts: bool(o.read_receipts, DEFAULT_PREFS.read_receipts),
    notifications: oneOf(o.notifications, LEVELS, DEFAULT_PREFS.notifications),
    channel_notifications: levels,
    desktop_notifications: bool(o.desktop_notifications, DEFAULT_PREFS.desktop_notifications),
    sounds: bool(o.sounds, DEFAULT_PREFS.sounds),
    dnd: bool(o.dnd, DEFAULT_PREFS.dnd),
    dnd_until: typeof until === 'number' && Number.isFinite(until) && until > 0 ? until : null,
    presence: oneOf(o.presence, PRESENCES, DEFAULT_PREFS.presence),
  };
}

/**
 * The body of `PUT /account/preferences` for a change: only the keys changed (the server
 * merges at the top level, so the other keys, this app's or another client's, stay).
 * A per-channel level is part of one map, sent whole.
 */
export function encodeChange(change: Partial<Prefs>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(change)) {
    if (value === undefined) continue;
    if (key === 'channel_notifications' && Object.keys(value as object).length > MAX_CHANNEL_LEVELS) {
      throw new Error(`At most ${MAX_CHANNEL_LEVELS} channels can have a level of their own.`);
    }
    out[key] = value;
  }
  return out;
}

/** The map with one channel's level set, or removed (`null`: the channel follows the default). */
export function withChannelLevel(map: Record<string, Level>, channelId: string, level: Level | null): Record<string, Level> {
  const next = { ...map };
  if (level === null) delete next[channelId.toLowerCase()];
  else next[channelId.toLowerCase()] = level;
  return next;
}

/** Whether do-not-disturb holds at `now` (epoch ms). */
export function dndActive(p: Pick<Prefs, 'dnd' | 'dnd_until'>, now: number): boolean {
  return p.dnd && (p.dnd_until === null || now < p.dnd_until);
}

/** The level that applies to a channel. */
export function levelFor(p: Pick<Prefs, 'notifications' | 'channel_notifications'>, channelId: string): Level {
  return p.channel_notifications[channelId.toLowerCase()] ?? p.notifications;
}

export interface Incoming {
  channelId: string;
  isDm: boolean;
  /** The message declares me in `mentions`. */
  mentioned: boolean;
  fromMe: boolean;
  /** The page is visible and shows this channel: the user sees the message already. */
  watching: boolean;
}

export interface Alert {
  desktop: boolean;
  sound: boolean;
}

/**
 * What a new message should do while the app is open. The channel's level decides
 * (`mentions`: a DM counts as addressed to me); do-not-disturb silences everything; a
 * message in the channel being watched, or my own, never alerts.
 */
export function alertFor(p: Prefs, m: Incoming, now: number): Alert {
  const none = { desktop: false, sound: false };
  if (m.fromMe || m.watching || dndActive(p, now)) return none;
  const level = levelFor(p, m.channelId);
  const wanted = level === 'all' || (level === 'mentions' && (m.isDm || m.mentioned));
  if (!wanted) return none;
  return { desktop: p.desktop_notifications, sound: p.sounds };
}

/** A message time as the preference says (`auto`: the locale's habit). */
export function formatTime(date: Date, format: TimeFormat, locale?: string): string {
  const opts: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit' };
  if (format !== 'auto') opts.hourCycle = format === '12h' ? 'h12' : 'h23';
  return date.toLocaleTimeString(locale ?? [], opts);
}
