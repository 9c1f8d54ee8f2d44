import { describe, expect, it } from 'vitest';
import { mergeThread, pollOptions, replyCount, shares, type Poll } from '../../src/lib/app/panels';
import type { Msg } from '../../src/lib/app/types';

const msg = (id: string, at: string, extra: Partial<Msg> = {}): Msg => ({
  id,
  channelId: 'c',
  senderId: 'u',
  ciphertext: null,
  encryption: 'none',
  type: 'text',
  text: id,
  createdAt: at,
  edited: false,
  deleted: false,
  reactions: [],
  ...extra,
});

describe('thread panel', () => {
  it('merges loaded and live copies by id, oldest first, the live copy winning', () => {
    const root = msg('r', '2026-01-01T00:00:00Z');
    const loaded = [msg('b', '2026-01-01T00:02:00Z', { threadId: 'r' }), root, msg('a', '2026-01-01T00:01:00Z', { threadId: 'r' })];
    const live = [msg('a', '2026-01-01T00:01:00Z', { threadId: 'r', text: 'edited' }), msg('x', '2026-01-01T00:03:00Z'), msg('c', '2026-01-01T00:04:00Z', { threadId: 'r' })];
    const out = mergeThread('r', loaded, live);
    expect(out.map((m) => m.id)).toEqual(['r', 'a', 'b', 'c']);
    expect(out[1].text).toBe('edited');
  });

  it('drops my pending reply once its confirmed copy is there', () => {
    const pending = msg('pending:1', '2026-01-01T00:01:00Z', { threadId: 'r', clientId: '1', pending: true });
    const confirmed = msg('m1', '2026-01-01T00:01:01Z', { threadId: 'r', clientId: '1' });
    expect(mergeThread('r', [], [pending]).map((m) => m.id)).toEqual(['pending:1']);
    expect(mergeThread('r', [], [pending, confirmed]).map((m) => m.id)).toEqual(['m1']);
  });

  it('counts replies: the server count, or the loaded live ones when more', () => {
    const root = msg('r', 't0', { replyCount: 2 });
    expect(replyCount(root, [root])).toBe(2);
    const all = [root, ...['1', '2', '3'].map((i) => msg(i, `t${i}`, { threadId: 'r' })), msg('4', 't4', { threadId: 'r', deleted: true })];
    expect(replyCount(root, all)).toBe(3);
  });
});

describe('polls', () => {
  it('reads the options one per line, 2 to 10 of them', () => {
    expect(pollOptions(' red \n\nblue\n')).toEqual(['red', 'blue']);
    expect(() => pollOptions('only one')).toThrow(/at least two/);
    expect(() => pollOptions(Array.from({ length: 11 }, (_, i) => `o${i}`).join('\n'))).toThrow(/at most ten/);
    expect(() => pollOptions(`a\n${'x'.repeat(201)}`)).toThrow(/200/);
  });

  it('shows each option as a share of the voters', () => {
    const poll = { total_voters: 3, options: [{ votes: 2 }, { votes: 1 }, { votes: 0 }] } as unknown as Poll;
    expect(shares(poll)).toEqual([67, 33, 0]);
    expect(shares({ ...poll, total_voters: 0 })).toEqual([0, 0, 0]);
  });
});
