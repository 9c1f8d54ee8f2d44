/**
 * Double Ratchet (Signal rev. 1) with the KDFs, header and bounds of crypto.md.
 *
 * decrypt() never leaves a half-updated state: the fast cases compute the new values in
 * locals and assign them only after the AEAD accepted the message; everything else runs
 * on a copy that replaces the state only on success. The order of operations (and so of
 * the random values drawn) is the Python library's, which the vectors record.
 */

import { concat, equal, packU32, toHex, U32_MAX, unpackU32 } from './bytes';
import { HEADER_SIZE } from './envelopes';
import {
  ChainExhausted,
  DecryptError,
  DuplicateMessage,
  InvalidEnvelope,
  NoSession,
  StateError,
  TooManySkipped,
} from './errors';
import {
  AEAD_TAG_SIZE,
  generateX25519,
  hkdfSha256,
  INFO_MESSAGE_KEYS,
  INFO_RATCHET,
  kdfCk,
  openWithMessageKey,
  randomBytes,
  sealWithMessageKey,
  validateX25519Public,
  x25519,
  x25519Public,
  type Random,
} from './primitives';
import { b64, Reader, type Json } from './serialization';

/** Most message keys skipped in one chain by one message (n - Nr, or pn - Nr). */
export const MAX_SKIP = 1000;
/** Most skipped message keys kept per session; the oldest is evicted first. */
export const MAX_SKIPPED_KEYS = 2000;

/** KDF_RK: HKDF(ikm = dh_out, salt = rk, info = "chatalot-ratchet", 64) -> [rk, ck]. */
export function kdfRk(rk: Uint8Array, dhOut: Uint8Array): [Uint8Array, Uint8Array] {
  const out = hkdfSha256(dhOut, rk, INFO_RATCHET, 64);
  return [out.slice(0, 32), out.slice(32)];
}

export interface SkippedKey {
  dh: Uint8Array;
  n: number;
  mk: Uint8Array;
}

const skipKey = (dh: Uint8Array, n: number) => `${toHex(dh)}:${n}`;

const FIELDS = ['dhsPrivate', 'dhsPublic', 'dhr', 'rk', 'cks', 'ckr', 'ns', 'nr', 'pn', 'skipped'] as const;
export type RatchetFields = Pick<RatchetState, (typeof FIELDS)[number]>;

/** One side's Double Ratchet state (DHs, DHr, RK, CKs, CKr, Ns, Nr, PN, MKSKIPPED). */
export class RatchetState {
  dhsPrivate!: Uint8Array;
  dhsPublic!: Uint8Array;
  dhr!: Uint8Array | null;
  rk!: Uint8Array;
  cks!: Uint8Array | null;
  ckr!: Uint8Array | null;
  ns!: number;
  nr!: number;
  pn!: number;
  /** Skipped message keys; insertion order is age order: the first is evicted first. */
  skipped!: Map<string, SkippedKey>;

  constructor(fields: RatchetFields) {
    this.assign(fields);
  }

  /** RatchetInitAlice(SK, SPK_B_pub). */
  static initAlice(sharedSecret: Uint8Array, bobRatchetPublic: Uint8Array, rng: Random = randomBytes): RatchetState {
    validateX25519Public(bobRatchetPublic);
    const [dhsPrivate, dhsPublic] = generateX25519(rng);
    const [rk, cks] = kdfRk(sharedSecret, x25519(dhsPrivate, bobRatchetPublic));
    return new RatchetState({
      dhsPrivate, dhsPublic, dhr: bobRatchetPublic, rk, cks, ckr: null, ns: 0, nr: 0, pn: 0, skipped: new Map(),
    });
  }

  /** RatchetInitBob(SK, SPK_B pair). */
  static initBob(sharedSecret: Uint8Array, bobRatchetPrivate: Uint8Array): RatchetState {
    return new RatchetState({
      dhsPrivate: bobRatchetPrivate, dhsPublic: x25519Public(bobRatchetPrivate), dhr: null, rk: sharedSecret,
      cks: null, ckr: null, ns: 0, nr: 0, pn: 0, skipped: new Map(),
    });
  }

  copy(): RatchetState {
    return new RatchetState({ ...this.fields(), skipped: new Map(this.skipped) });
  }

  private fields(): RatchetFields {
    return Object.fromEntries(FIELDS.map((name) => [name, this[name]])) as unknown as RatchetFields;
  }

  private assign(fields: RatchetFields): void {
    for (const name of FIELDS) (this as Record<string, unknown>)[name] = fields[name];
  }

  // --- sending ---------------------------------------------------------------------------

  /** RatchetEncrypt: [HEADER, ct]; the state advances (persist it before sending). */
  encrypt(plaintext: Uint8Array, ad: Uint8Array): [Uint8Array, Uint8Array] {
    const cks = this.cks;
    if (cks === null) throw new NoSession('no sending chain before the first received message');
    const ns = this.ns;
    if (ns > U32_MAX || this.pn > U32_MAX) throw new ChainExhausted('sending chain exhausted');
    const [mk, next] = kdfCk(cks);
    const header = concat(this.dhsPublic, packU32(this.pn), packU32(ns));
    const ct = sealWithMessageKey(mk, INFO_MESSAGE_KEYS, plaintext, concat(ad, header));
    this.cks = next;
    this.ns = ns + 1;
    return [header, ct];
  }

  // --- receiving -------------------------------------------------------------------------

  /** RatchetDecrypt; the state is unchanged when it throws. */
  decrypt(header: Uint8Array, ct: Uint8Array, ad: Uint8Array, rng: Random = randomBytes): Uint8Array {
    if (header.length !== HEADER_SIZE || ct.length < AEAD_TAG_SIZE) throw new InvalidEnvelope('malformed ratchet message');
    const dh = header.slice(0, 32);
    const pn = unpackU32(header, 32);
    const n = unpackU32(header, 36);
    const aad = concat(ad, header);
    if (this.skipped.size > 0) {
      const key = skipKey(dh, n);
      const hit = this.skipped.get(key);
      if (hit !== undefined) {
        const plaintext = openWithMessageKey(hit.mk, INFO_MESSAGE_KEYS, ct, aad);
        this.skipped.delete(key);
        return plaintext;
      }
    }
    if (this.dhr !== null && equal(dh, this.dhr)) {
      const ckr = this.ckr;
      if (ckr === null) throw new DecryptError('no receiving chain for the current ratchet key');
      if (n < this.nr) throw new DuplicateMessage('message key already used or discarded');
      if (n === this.nr) {
        const [mk, next] = kdfCk(ckr);
        const plaintext = openWithMessageKey(mk, INFO_MESSAGE_KEYS, ct, aad);
        this.ckr = next;
        this.nr = n + 1;
        return plaintext;
      }
    }
    const work = this.copy();
    const plaintext = work.decryptGeneral(dh, pn, n, ct, aad, rng);
    this.assign(work.fields());
    return plaintext;
  }

  private decryptGeneral(dh: Uint8Array, pn: number, n: number, ct: Uint8Array, aad: Uint8Array, rng: Random): Uint8Array {
    if (this.dhr === null || !equal(dh, this.dhr)) {
      validateX25519Public(dh);
      this.skip(pn);
      this.dhRatchet(dh, rng);
    }
    this.skip(n);
    if (this.ckr === null) throw new DecryptError('no receiving chain for the current ratchet key');
    const [mk, next] = kdfCk(this.ckr);
    this.ckr = next;
    this.nr += 1;
    return openWithMessageKey(mk, INFO_MESSAGE_KEYS, ct, aad);
  }

  private skip(until: number): void {
    if (until - this.nr > MAX_SKIP) throw new TooManySkipped('too many skipped messages');
    let ckr = this.ckr;
    if (ckr === null) return;
    const dhr = this.dhr;
    if (dhr === null) throw new DecryptError('receiving chain without a ratchet key');
    let nr = this.nr;
    while (nr < until) {
      const [mk, next] = kdfCk(ckr);
      this.skipped.set(skipKey(dhr, nr), { dh: dhr, n: nr, mk });
      ckr = next;
      nr += 1;
    }
    while (this.skipped.size > MAX_SKIPPED_KEYS) {
      this.skipped.delete(this.skipped.keys().next().value as string);
    }
    this.ckr = ckr;
    this.nr = nr;
  }

  private dhRatchet(dh: Uint8Array, rng: Random): void {
    this.pn = this.ns;
    this.ns = 0;
    this.nr = 0;
    this.dhr = dh;
    [this.rk, this.ckr] = kdfRk(this.rk, x25519(this.dhsPrivate, dh));
    [this.dhsPrivate, this.dhsPublic] = generateX25519(rng);
    [this.rk, this.cks] = kdfRk(this.rk, x25519(this.dhsPrivate, dh));
  }

  // --- serialization ---------------------------------------------------------------------

  toObj(): { [key: string]: Json } {
    const opt = (v: Uint8Array | null) => (v === null ? null : b64(v));
    return {
      dhs_private: b64(this.dhsPrivate),
      dhr: opt(this.dhr),
      rk: b64(this.rk),
      cks: opt(this.cks),
      ckr: opt(this.ckr),
      ns: this.ns,
      nr: this.nr,
      pn: this.pn,
      skipped: [...this.skipped.values()].map((s) => [b64(s.dh), s.n, b64(s.mk)]),
    };
  }

  static fromObj(r: Reader): RatchetState {
    const dhsPrivate = r.bytes('dhs_private', 32);
    const skipped = new Map<string, SkippedKey>();
    for (const item of r.list('skipped', MAX_SKIPPED_KEYS)) {
      if (!Array.isArray(item) || item.length !== 3) throw new StateError('malformed skipped key');
      const dh = r.decodeB64(item[0] as Json, 'skipped', 32);
      const n = r.intValue(item[1] as Json, 'skipped', 0, U32_MAX);
      skipped.set(skipKey(dh, n), { dh, n, mk: r.decodeB64(item[2] as Json, 'skipped', 32) });
    }
    return new RatchetState({
      dhsPrivate,
      dhsPublic: x25519Public(dhsPrivate),
      dhr: r.optBytes('dhr', 32),
      rk: r.bytes('rk', 32),
      cks: r.optBytes('cks', 32),
      ckr: r.optBytes('ckr', 32),
      ns: r.int('ns', 0, U32_MAX + 1),
      nr: r.int('nr', 0, U32_MAX + 1),
      pn: r.int('pn', 0, U32_MAX + 1),
      skipped,
    });
  }
}
