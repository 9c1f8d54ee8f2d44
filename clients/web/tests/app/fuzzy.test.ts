import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fuzzyFilter, fuzzyScore } from '../../src/lib/app/fuzzy';

const names = (q: string, labels: string[]) => fuzzyFilter(q, labels, (s) => s).map((r) => r.item);

describe('fuzzy matcher', () => {
  it('needs every character, in order', () => {
    expect(fuzzyScore('tc', 'team-chat')).not.toBeNull();
    expect(fuzzyScore('ct', 'team-chat')).not.toBeNull(); // c(hat)…t: still in order
    expect(fuzzyScore('xyz', 'team-chat')).toBeNull();
    expect(fuzzyScore('chatt', 'chat')).toBeNull();
  });

  it('ranks prefixes, word starts and runs first', () => {
    expect(names('gen', ['engineering-notes', 'general', 'my-generic'])).toEqual(['general', 'my-generic', 'engineering-notes']);
    expect(names('tc', ['tactics', 'team-chat'])[0]).toBe('team-chat');
    expect(names('chat', ['chat-archive', 'chat'])[0]).toBe('chat');
  });

  it('ignores case, accents and spaces in the query', () => {
    expect(names('ZOE', ['Zoë', 'Bob'])).toEqual(['Zoë']);
    expect(names('team chat', ['team-chat'])).toEqual(['team-chat']);
  });

  it('an empty query keeps every item in its order', () => {
    expect(names('', ['b', 'a', 'c'])).toEqual(['b', 'a', 'c']);
  });

  it('indices point at the matched characters, increasing', () => {
    fc.assert(fc.property(fc.string({ maxLength: 5 }), fc.string({ maxLength: 30 }), (q, label) => {
      const r = fuzzyScore(q, label);
      const fold = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
      const needle = fold(q).replace(/\s+/g, '');
      const hay = fold(label);
      // a subsequence check written plainly: match iff the matcher matches
      let k = 0;
      for (const ch of hay) if (k < needle.length && ch === needle[k]) k++;
      expect(r !== null).toBe(k === needle.length);
      if (r && hay.length === label.length) {
        expect(r.indices.length).toBe(needle.length);
        r.indices.forEach((i, n) => {
          expect(hay[i]).toBe(needle[n]);
          if (n) expect(i).toBeGreaterThan(r.indices[n - 1]);
        });
      }
    }));
  });
});
