/** The lock layer: Web Locks when the platform has them, an in-process FIFO lock otherwise. */

import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultLocks, LocalLocks, WebLocks } from '../../src/lib/e2e/locks';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('locks', () => {
  it('uses navigator.locks (exclusive) when present', async () => {
    const calls: [string, unknown][] = [];
    vi.stubGlobal('navigator', {
      locks: {
        request: async (name: string, options: unknown, fn: () => Promise<unknown>) => {
          calls.push([name, options]);
          return fn();
        },
      },
    });
    const locks = defaultLocks();
    expect(locks).toBeInstanceOf(WebLocks);
    expect(await locks.run('chatalot-e2e:dm:x', async () => 42)).toBe(42);
    expect(calls).toEqual([['chatalot-e2e:dm:x', { mode: 'exclusive' }]]);
  });

  it('falls back to in-process locks', () => {
    vi.stubGlobal('navigator', undefined);
    expect(defaultLocks()).toBeInstanceOf(LocalLocks);
  });

  it('runs holders of one name one at a time, in order, releasing on errors', async () => {
    const locks = new LocalLocks();
    const events: string[] = [];
    const holder = (id: string, fail = false) =>
      locks.run('n', async () => {
        events.push(`${id} in`);
        await new Promise((r) => setTimeout(r, 5));
        events.push(`${id} out`);
        if (fail) throw new Error(id);
        return id;
      });
    const other = locks.run('other', async () => events.push('other'));
    const results = await Promise.allSettled([holder('a'), holder('b', true), holder('c')]);
    await other;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(events.filter((e) => e !== 'other')).toEqual(['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
    expect(events.indexOf('other')).toBeLessThan(events.indexOf('a out')); // other names do not wait
  });
});
