import { describe, expect, it } from 'vitest';
import { moveCursor, seenBy, seenLabel } from '../../src/lib/app/receipts';
import type { Msg } from '../../src/lib/app/types';

const msg = (id: string): Msg => ({
  id, channelId: 'c', senderId: 'me', ciphertext: '', encryption: 'none', type: 'text', text: id, replyTo: null,
  createdAt: '2026-01-01T00:00:00Z', edited: false, deleted: false, reactions: [],
});
const list = ['m1', 'm2', 'm3'].map(msg);

describe('read receipts', () => {
  it('shows each reader under the message their cursor is at, never me, never a message not held', () => {
    expect(seenBy(list, { bob: 'm2', carol: 'm2', dan: 'm3', me: 'm3', erin: 'old' }, 'me')).toEqual({ m2: ['bob', 'carol'], m3: ['dan'] });
  });

  it('a cursor moves forward, never back', () => {
    let c = moveCursor({}, list, 'bob', 'm2');
    expect(c).toEqual({ bob: 'm2' });
    c = moveCursor(c, list, 'bob', 'm1');
    expect(c).toEqual({ bob: 'm2' });
    c = moveCursor(c, list, 'bob', 'm3');
    expect(c).toEqual({ bob: 'm3' });
    // a message the list does not hold yet (newer): taken
    expect(moveCursor(c, list, 'bob', 'm9')).toEqual({ bob: 'm9' });
  });

  it('labels', () => {
    expect(seenLabel(['Bob'])).toBe('Seen by Bob');
    expect(seenLabel(['A', 'B', 'C', 'D', 'E'])).toBe('Seen by A, B, C and 2 more');
  });
});
