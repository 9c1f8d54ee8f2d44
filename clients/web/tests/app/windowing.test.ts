import { describe, expect, it } from 'vitest';
import { LiveHold, join, windowOf } from '../../src/lib/app/windowing';
import type { Msg } from '../../src/lib/app/types';

const ME = 'me';
const msg = (id: string, over: Partial<Msg> = {}): Msg => ({
  id,
  channelId: 'c',
  senderId: 'other',
  ciphertext: `ct-${id}`,
  encryption: 'none',
  type: 'text',
  text: id,
  createdAt: '2026-12-06T10:00:00.000Z',
  edited: false,
  deleted: false,
  reactions: [],
  ...over,
});
const ids = (list: Msg[]) => list.map((m) => m.id);

describe('windowing', () => {
  it('a live message that comes while the window loads joins it once, after the pages', () => {
    // openAt: held from before the first page; the page is answered as of the socket's
    // position, so m3 (on its way) is not in it and must not be lost
    const hold = new LiveHold();
    hold.start('c');
    expect(hold.add('c', msg('m3'))).toBe(true);
    const w = windowOf([msg('hit')], [msg('m1'), msg('m2')], 25);
    expect(w.moreAfter).toBe(false); // a short page: the window is at the end
    expect(ids(join(w.list, hold.release('c'), ME))).toEqual(['hit', 'm1', 'm2', 'm3']);
    expect(hold.holding('c')).toBe(false);
    expect(hold.add('c', msg('m4'))).toBe(false); // released: the caller shows it
  });

  it('a held message the page already has is not doubled', () => {
    const hold = new LiveHold();
    hold.start('c');
    hold.add('c', msg('m2'));
    const w = windowOf([msg('hit')], [msg('m1'), msg('m2')], 25);
    expect(ids(join(w.list, hold.release('c'), ME))).toEqual(['hit', 'm1', 'm2']);
  });

  it('a full page leaves a window short of the end: held messages wait for the end', () => {
    const after = Array.from({ length: 25 }, (_, i) => msg(`a${i}`));
    const w = windowOf([msg('hit')], after, 25);
    expect(w).toMatchObject({ moreBefore: false, moreAfter: true });
    const hold = new LiveHold();
    hold.start('c');
    hold.add('c', msg('live'));
    hold.start('c'); // another hit in the same window: what is held stays
    expect(hold.holding('c')).toBe(true);
    expect(ids(hold.release('c'))).toEqual(['live']);
  });

  it('my own pending send held live takes the server id instead of showing twice', () => {
    const pending = msg('pending:x', { senderId: ME, pending: true, ciphertext: 'same', clientId: 'x' });
    const list = join([msg('hit'), pending], [msg('srv', { senderId: ME, ciphertext: 'same' })], ME);
    expect(list.map((m) => [m.id, !!m.pending])).toEqual([['hit', false], ['srv', false]]);
  });

  it('holds per channel', () => {
    const hold = new LiveHold();
    hold.start('c');
    expect(hold.add('d', msg('x'))).toBe(false);
    expect(hold.release('d')).toEqual([]);
    expect(hold.holding('c')).toBe(true);
  });
});
