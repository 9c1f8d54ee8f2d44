import { describe, expect, it } from 'vitest';
import { confirm, continues, prepend, react, receive } from '../../src/lib/app/timeline';
import type { Msg } from '../../src/lib/app/types';

const ME = 'me';
let n = 0;
function msg(over: Partial<Msg> = {}): Msg {
  n += 1;
  return {
    id: `m${n}`,
    channelId: 'c',
    senderId: 'other',
    ciphertext: `ct${n}`,
    encryption: 'none',
    type: 'text',
    text: `t${n}`,
    createdAt: new Date(2026, 0, 1, 12, n).toISOString(),
    edited: false,
    deleted: false,
    reactions: [],
    ...over,
  };
}

describe('timeline', () => {
  it('a message received twice (live, then replayed after a resume) is held once', () => {
    const m = msg();
    const [once, fresh] = receive([], m, ME);
    const [twice, again] = receive(once, { ...m }, ME);
    expect(fresh).toBe(true);
    expect(again).toBe(false);
    expect(twice).toHaveLength(1);
  });

  it('my pending message takes the server id whichever of message_sent and new_message comes first', () => {
    const pending = msg({ id: 'pending:x', clientId: 'x', senderId: ME, pending: true, ciphertext: 'same' });
    // message_sent first, then new_message
    let list = confirm([pending], 'x', 'srv1', pending.createdAt);
    [list] = receive(list, msg({ id: 'srv1', senderId: ME, ciphertext: 'same' }), ME);
    expect(list.map((m) => [m.id, !!m.pending])).toEqual([['srv1', false]]);
    // new_message first, then message_sent
    let other = [pending];
    [other] = receive(other, msg({ id: 'srv1', senderId: ME, ciphertext: 'same' }), ME);
    other = confirm(other, 'x', 'srv1', pending.createdAt);
    expect(other.map((m) => [m.id, !!m.pending])).toEqual([['srv1', false]]);
  });

  it('a history page goes before the held messages, without the ones already held', () => {
    const a = msg();
    const b = msg();
    const c = msg();
    const list = prepend([b, c], [a, b]);
    expect(list.map((m) => m.id)).toEqual([a.id, b.id, c.id]);
  });

  it('reactions are idempotent and drop when nobody is left', () => {
    let r = react([], '👍', 'u1', true);
    r = react(r, '👍', 'u1', true);
    r = react(r, '👍', 'u2', true);
    expect(r).toEqual([{ emoji: '👍', user_ids: ['u1', 'u2'] }]);
    r = react(r, '👍', 'u1', false);
    r = react(r, '👍', 'u2', false);
    r = react(r, '👍', 'u2', false);
    expect(r).toEqual([]);
  });

  it('messages group by sender within five minutes', () => {
    const a = msg({ createdAt: '2026-01-01T12:00:00Z' });
    expect(continues(a, msg({ createdAt: '2026-01-01T12:04:00Z' }))).toBe(true);
    expect(continues(a, msg({ createdAt: '2026-01-01T12:06:00Z' }))).toBe(false);
    expect(continues(a, msg({ createdAt: '2026-01-01T12:01:00Z', senderId: 'x' }))).toBe(false);
  });
});

import { append as appendNewer } from '../../src/lib/app/timeline';

describe('a window scrolled down (newer pages)', () => {
  const m = (id: string, pending = false) => ({
    id, channelId: 'c', senderId: 's', ciphertext: id, encryption: 'none', type: 'text', text: id, replyTo: null,
    createdAt: '2026-01-01T00:00:00Z', edited: false, deleted: false, reactions: [], pending,
  });
  it('appends a newer page once, keeps pending sends last', () => {
    const list = [m('a'), m('b'), m('p', true)];
    const out = appendNewer(list, [m('b'), m('c'), m('d')]);
    expect(out.map((x) => x.id)).toEqual(['a', 'b', 'c', 'd', 'p']);
    expect(appendNewer(out, [m('c'), m('d')]).map((x) => x.id)).toEqual(['a', 'b', 'c', 'd', 'p']);
  });
});
