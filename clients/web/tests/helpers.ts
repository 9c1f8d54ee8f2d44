/** Helpers shared by the vitest suites: the repository's vectors and recorded randomness. */

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { fromHex, toHex } from '../src/lib/crypto/bytes';
import { CryptoError } from '../src/lib/crypto/errors';
import type { RatchetState } from '../src/lib/crypto/ratchet';

/** The repository root (clients/web is two levels below it). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The project's crypto vectors, read in place: the Python tests and these share them. */
export const VECTORS = resolve(REPO_ROOT, 'tests', 'vectors', 'crypto');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function loadVectors(name: string): any {
  return JSON.parse(readFileSync(resolve(VECTORS, name), 'ascii'));
}

export const hex = toHex;
export const unhex = fromHex;
export const ascii = (s: string) => new TextEncoder().encode(s);

/** A random source that returns recorded values, in order, of the recorded lengths. */
export class QueueRandom {
  private values: Uint8Array[];

  constructor(values: string[]) {
    this.values = values.map(fromHex);
  }

  readonly rng = (n: number): Uint8Array => {
    const value = this.values.shift();
    if (value === undefined) throw new Error('the implementation took more random values than recorded');
    expect(value.length, 'random length').toBe(n);
    return value;
  };

  assertDone(): void {
    expect(this.values.length, 'recorded random values left unused').toBe(0);
  }
}

/** Reproducible randomness for property tests (never for real keys): xorshift32. */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  let x = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}

/** The name of the CryptoError fn throws, or null when it returns. */
export function errorName(fn: () => unknown): string | null {
  try {
    fn();
  } catch (e) {
    if (e instanceof CryptoError) return e.name;
    throw e;
  }
  return null;
}

/** The same fields, in the same form, as the vectors' "state". */
export function ratchetSnapshot(s: RatchetState): unknown {
  const opt = (v: Uint8Array | null) => (v === null ? null : toHex(v));
  return {
    dhs_public: toHex(s.dhsPublic),
    dhr: opt(s.dhr),
    rk: toHex(s.rk),
    cks: opt(s.cks),
    ckr: opt(s.ckr),
    ns: s.ns,
    nr: s.nr,
    pn: s.pn,
    skipped: [...s.skipped.values()].map((k) => [toHex(k.dh), k.n, toHex(k.mk)]),
  };
}

export function flipBit(data: Uint8Array, bit: number): Uint8Array {
  const out = data.slice();
  out[bit >> 3] ^= 1 << (bit & 7);
  return out;
}

/**
 * Flip single bits across the whole envelope (every `step`-th bit, so every byte is hit):
 * each changed envelope must be refused with a CryptoError, the state left unchanged.
 */
export function expectFlipsRefused(
  envelope: Uint8Array,
  step: number,
  decrypt: (changed: Uint8Array) => unknown,
  state: () => Uint8Array,
): void {
  const before = toHex(state());
  for (let bit = 0; bit < envelope.length * 8; bit += step) {
    expect(errorName(() => decrypt(flipBit(envelope, bit))), `bit ${bit}`).not.toBeNull();
    expect(toHex(state()), `bit ${bit}`).toBe(before);
  }
}
