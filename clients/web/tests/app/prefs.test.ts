import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCENTS,
  DEFAULT_PREFS,
  DENSITIES,
  LEVELS,
  MAX_CHANNEL_LEVELS,
  PRESENCES,
  THEMES,
  TIME_FORMATS,
  alertFor,
  decodePrefs,
  dndActive,
  encodeChange,
  formatTime,
  levelFor,
  withChannelLevel,
  type Incoming,
  type Level,
  type Prefs,
} from '../../src/lib/app/prefs';
import { REPO_ROOT } from '../helpers';
import { pythonExecutable } from '../interop/python';

const RUNS = Number(process.env.FC_RUNS ?? 100);
const CH = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const CH2 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';
const NOW = Date.UTC(2026, 11, 6, 12);

const uuid = fc.uuid().map((u) => u.toLowerCase());
const prefsArb: fc.Arbitrary<Prefs> = fc.record({
  theme: fc.constantFrom(...THEMES),
  accent: fc.constantFrom(...ACCENTS),
  density: fc.constantFrom(...DENSITIES),
  time_format: fc.constantFrom(...TIME_FORMATS),
  read_receipts: fc.boolean(),
  notifications: fc.constantFrom(...LEVELS),
  channel_notifications: fc.dictionary(uuid, fc.constantFrom(...LEVELS), { maxKeys: 5 }),
  desktop_notifications: fc.boolean(),
  sounds: fc.boolean(),
  dnd: fc.boolean(),
  dnd_until: fc.option(fc.integer({ min: 1, max: 2 ** 45 }), { nil: null }),
  presence: fc.constantFrom(...PRESENCES),
});
const incomingArb: fc.Arbitrary<Incoming> = fc.record({
  channelId: fc.constantFrom(CH, CH2),
  isDm: fc.boolean(),
  mentioned: fc.boolean(),
  fromMe: fc.boolean(),
  watching: fc.boolean(),
});

/** The server's own merge rule (chatalot/domain/accounts/validation.py) on a PUT body. */
function serverMerge(current: unknown, patch: unknown): { ok: boolean; merged?: unknown; error?: string } {
  const code = [
    'import json, sys',
    'from chatalot.domain.accounts.validation import merge_preferences',
    'cur, patch = json.load(sys.stdin)',
    'try:',
    '    print(json.dumps({"ok": True, "merged": merge_preferences(cur, patch)}))',
    'except Exception as e:',
    '    print(json.dumps({"ok": False, "error": str(e)}))',
  ].join('\n');
  const proc = spawnSync(pythonExecutable(), ['-c', code], {
    cwd: REPO_ROOT,
    input: JSON.stringify([current, patch]),
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: REPO_ROOT, PYTHONDONTWRITEBYTECODE: '1' },
  });
  if (proc.status !== 0) throw new Error(proc.stderr);
  return JSON.parse(proc.stdout);
}

describe('preferences: decoding what the server holds', () => {
  it('an empty or foreign object gives the defaults', () => {
    expect(decodePrefs({})).toEqual(DEFAULT_PREFS);
    expect(decodePrefs(null)).toEqual(DEFAULT_PREFS);
    expect(decodePrefs([1, 2])).toEqual(DEFAULT_PREFS);
    expect(decodePrefs({ theme: 'neon', density: 3, read_receipts: 'no', other_client: { x: 1 } })).toEqual(DEFAULT_PREFS);
  });

  it('keeps valid values and drops malformed per-channel levels', () => {
    const p = decodePrefs({
      theme: 'light',
      accent: 'green',
      density: 'compact',
      time_format: '12h',
      read_receipts: false,
      notifications: 'all',
      channel_notifications: { [CH.toUpperCase()]: 'nothing', 'not-a-uuid': 'all', [CH2]: 'loud' },
      dnd: true,
      dnd_until: -5,
      presence: 'dnd',
    });
    expect(p).toMatchObject({ theme: 'light', accent: 'green', density: 'compact', time_format: '12h', read_receipts: false, notifications: 'all', dnd: true, dnd_until: null, presence: 'dnd' });
    expect(p.channel_notifications).toEqual({ [CH]: 'nothing' });
  });

  it('decodes anything at all into valid preferences', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (raw) => {
        const p = decodePrefs(raw);
        expect(THEMES).toContain(p.theme);
        expect(LEVELS).toContain(p.notifications);
        for (const level of Object.values(p.channel_notifications)) expect(LEVELS).toContain(level);
        expect(p.dnd_until === null || p.dnd_until > 0).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('what the app writes, the app reads back the same (through JSON)', () => {
    fc.assert(
      fc.property(prefsArb, (p) => {
        expect(decodePrefs(JSON.parse(JSON.stringify(encodeChange(p))))).toEqual(p);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('preferences: encoding a change', () => {
  it('sends only the changed keys (the server merges at the top level)', () => {
    expect(encodeChange({ theme: 'light' })).toEqual({ theme: 'light' });
    expect(encodeChange({ dnd: false, dnd_until: null })).toEqual({ dnd: false, dnd_until: null });
    expect(encodeChange({ theme: undefined })).toEqual({});
  });

  it('sets and clears one channel, leaving the others', () => {
    const one = withChannelLevel({}, CH.toUpperCase(), 'nothing');
    expect(one).toEqual({ [CH]: 'nothing' });
    const two = withChannelLevel(one, CH2, 'all');
    expect(two).toEqual({ [CH]: 'nothing', [CH2]: 'all' });
    expect(withChannelLevel(two, CH, null)).toEqual({ [CH2]: 'all' });
    expect(one).toEqual({ [CH]: 'nothing' }); // not changed in place
  });

  it('refuses more per-channel levels than fit', () => {
    const many = Object.fromEntries(Array.from({ length: MAX_CHANNEL_LEVELS + 1 }, (_, i) => [`00000000-0000-7000-8000-${String(i).padStart(12, '0')}`, 'all']));
    expect(() => encodeChange({ channel_notifications: many as Record<string, Level> })).toThrow(/At most/);
  });

  it('the fullest change the app can make is accepted by the server and merges as the app expects', () => {
    const full = Object.fromEntries(Array.from({ length: MAX_CHANNEL_LEVELS }, (_, i) => [`00000000-0000-7000-8000-${String(i).padStart(12, '0')}`, 'mentions']));
    const prefs: Prefs = { ...DEFAULT_PREFS, channel_notifications: full as Record<string, Level>, dnd: true, dnd_until: NOW };
    const stored = { other_client: { keep: true }, theme: 'light' };
    const reply = serverMerge(stored, encodeChange(prefs));
    expect(reply.ok, reply.error).toBe(true);
    expect(reply.merged).toMatchObject({ other_client: { keep: true } });
    expect(decodePrefs(reply.merged)).toEqual(prefs);
    // a second change touches only its key
    const after = serverMerge(reply.merged, encodeChange({ accent: 'pink' }));
    expect(decodePrefs(after.merged)).toEqual({ ...prefs, accent: 'pink' });
  });
});

describe('notifications: what a new message does', () => {
  const base: Prefs = { ...DEFAULT_PREFS, desktop_notifications: true, sounds: true };
  const msg = (m: Partial<Incoming>): Incoming => ({ channelId: CH, isDm: false, mentioned: false, fromMe: false, watching: false, ...m });
  const on = { desktop: true, sound: true };
  const off = { desktop: false, sound: false };

  it('follows the default level', () => {
    expect(alertFor({ ...base, notifications: 'all' }, msg({}), NOW)).toEqual(on);
    expect(alertFor({ ...base, notifications: 'mentions' }, msg({}), NOW)).toEqual(off);
    expect(alertFor({ ...base, notifications: 'mentions' }, msg({ mentioned: true }), NOW)).toEqual(on);
    expect(alertFor({ ...base, notifications: 'mentions' }, msg({ isDm: true }), NOW)).toEqual(on);
    expect(alertFor({ ...base, notifications: 'nothing' }, msg({ mentioned: true, isDm: true }), NOW)).toEqual(off);
  });

  it('a channel level overrides the default, both ways', () => {
    const muted = { ...base, notifications: 'all' as Level, channel_notifications: { [CH]: 'nothing' as Level } };
    expect(alertFor(muted, msg({ mentioned: true }), NOW)).toEqual(off);
    expect(alertFor(muted, msg({ channelId: CH2 }), NOW)).toEqual(on);
    const loud = { ...base, notifications: 'nothing' as Level, channel_notifications: { [CH]: 'all' as Level } };
    expect(alertFor(loud, msg({ channelId: CH.toUpperCase() }), NOW)).toEqual(on);
    expect(levelFor(loud, CH2)).toBe('nothing');
  });

  it('never for my own message or the channel I am watching', () => {
    const all = { ...base, notifications: 'all' as Level };
    expect(alertFor(all, msg({ fromMe: true, mentioned: true }), NOW)).toEqual(off);
    expect(alertFor(all, msg({ watching: true, mentioned: true }), NOW)).toEqual(off);
  });

  it('do-not-disturb silences until it ends', () => {
    const all = { ...base, notifications: 'all' as Level };
    expect(alertFor({ ...all, dnd: true, dnd_until: null }, msg({ isDm: true, mentioned: true }), NOW)).toEqual(off);
    expect(alertFor({ ...all, dnd: true, dnd_until: NOW + 1 }, msg({}), NOW)).toEqual(off);
    expect(alertFor({ ...all, dnd: true, dnd_until: NOW }, msg({}), NOW)).toEqual(on);
    expect(dndActive({ dnd: false, dnd_until: NOW + 1000 }, NOW)).toBe(false);
  });

  it('desktop and sound are switched separately', () => {
    const all = { ...base, notifications: 'all' as Level };
    expect(alertFor({ ...all, sounds: false }, msg({}), NOW)).toEqual({ desktop: true, sound: false });
    expect(alertFor({ ...all, desktop_notifications: false }, msg({}), NOW)).toEqual({ desktop: false, sound: true });
  });

  it('properties: silence wins, and a louder level never alerts less', () => {
    const rank: Record<Level, number> = { nothing: 0, mentions: 1, all: 2 };
    fc.assert(
      fc.property(prefsArb, incomingArb, fc.constantFrom(...LEVELS), fc.constantFrom(...LEVELS), (p, m, a, b) => {
        const alert = alertFor(p, m, NOW);
        if (m.fromMe || m.watching || dndActive(p, NOW) || levelFor(p, m.channelId) === 'nothing') expect(alert).toEqual(off);
        if (alert.desktop) expect(p.desktop_notifications).toBe(true);
        if (alert.sound) expect(p.sounds).toBe(true);
        const [lo, hi] = rank[a] <= rank[b] ? [a, b] : [b, a];
        const quiet = alertFor({ ...p, channel_notifications: { [m.channelId]: lo } }, m, NOW);
        const loud = alertFor({ ...p, channel_notifications: { [m.channelId]: hi } }, m, NOW);
        if (quiet.desktop) expect(loud.desktop).toBe(true);
        if (quiet.sound) expect(loud.sound).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('time format', () => {
  const t = new Date(2026, 0, 1, 15, 5);
  it('12 h, 24 h, or the locale', () => {
    expect(formatTime(t, '12h', 'en-GB')).toMatch(/^0?3:05\s?pm$/i);
    expect(formatTime(t, '24h', 'en-US')).toBe('15:05');
    expect(formatTime(t, 'auto', 'en-US')).toMatch(/^0?3:05\s?PM$/);
    expect(formatTime(t, 'auto', 'de-DE')).toBe('15:05');
  });
});
