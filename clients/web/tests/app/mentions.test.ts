import { describe, expect, it } from 'vitest';
import { declaredMentions, insertMention, MAX_MENTIONS, mentionQuery, suggest } from '../../src/lib/app/mentions';

const members = [
  { id: 'a', username: 'alice', display_name: 'Alice' },
  { id: 'b', username: 'bob', display_name: 'Bobby Tables' },
  { id: 'c', username: 'carol.x', display_name: 'Carol' },
  { id: 'm', username: 'malice', display_name: null },
];

describe('mentions', () => {
  it('finds the @word at the caret, not in an e-mail address', () => {
    expect(mentionQuery('hi @al', 6)).toEqual({ start: 3, query: 'al' });
    expect(mentionQuery('@', 1)).toEqual({ start: 0, query: '' });
    expect(mentionQuery('(@bo', 4)).toEqual({ start: 1, query: 'bo' });
    expect(mentionQuery('mail me@al', 10)).toBeNull();
    expect(mentionQuery('hi @al there', 12)).toBeNull();
    expect(mentionQuery('no at', 5)).toBeNull();
  });

  it('suggests prefix matches first, then substrings, never me', () => {
    expect(suggest('al', members).map((m) => m.id)).toEqual(['a', 'm']);
    expect(suggest('tab', members).map((m) => m.id)).toEqual(['b']);
    expect(suggest('', members, 'a').map((m) => m.id)).toEqual(['b', 'c', 'm']);
    expect(suggest('zzz', members)).toEqual([]);
  });

  it('inserts @username and a space, replacing the partial word', () => {
    expect(insertMention('hi @al', 6, 3, 'alice')).toEqual({ text: 'hi @alice ', caret: 10 });
    expect(insertMention('hi @alxx there', 6, 3, 'alice')).toEqual({ text: 'hi @alice there', caret: 10 });
  });

  it('declares the members named in the text, once each, whole words only', () => {
    expect(declaredMentions('@alice and @bob. also @alice', members)).toEqual(['a', 'b']);
    expect(declaredMentions('@carol.x!', members)).toEqual(['c']);
    expect(declaredMentions('mail bob@alice.org, @nobody, @malice', members)).toEqual(['m']);
    expect(declaredMentions('@ALICE', members)).toEqual(['a']);
    const many = Array.from({ length: 60 }, (_, i) => ({ id: `u${i}`, username: `u${i}` }));
    expect(declaredMentions(many.map((m) => `@${m.username}`).join(' '), many)).toHaveLength(MAX_MENTIONS);
  });
});
