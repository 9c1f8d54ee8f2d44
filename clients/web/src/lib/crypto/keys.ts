/** Long-term and prekey material (crypto.md "Keys"), and the checks made on received keys. */

import { isBytes, U32_MAX } from './bytes';
import * as ed25519 from './ed25519';
import { InvalidKey, InvalidKeyId, StateError } from './errors';
import { generateX25519, randomBytes, validateX25519Public, x25519Public, type Random } from './primitives';
import { b64, dump, load, Reader, type Json } from './serialization';

export { validateX25519Public } from './primitives';

/** The reserved key id that means "no one-time prekey"; never a real key's id. */
export const NO_ONE_TIME_PREKEY = U32_MAX;

/** Refuse an identity key that is not a strictly encoded point of order exactly L. */
export function validateIdentityKey(pub: Uint8Array): void {
  ed25519.validatePoint(pub);
}

/** Key ids are u32 below 0xFFFFFFFF (that value is reserved for "none"). */
export function validateKeyId(keyId: number): void {
  if (typeof keyId !== 'number' || !Number.isInteger(keyId) || keyId < 0 || keyId >= U32_MAX) {
    throw new InvalidKeyId('key id must be an integer in 0..0xFFFFFFFE');
  }
}

/** A signed prekey's checks: valid keys and Ed25519_sign(IK, SPK_pub). */
export function verifySignedPrekey(identityPublic: Uint8Array, prekeyPublic: Uint8Array, signature: Uint8Array): void {
  validateIdentityKey(identityPublic);
  validateX25519Public(prekeyPublic);
  ed25519.verify(identityPublic, prekeyPublic, signature);
}

/** Ed25519 identity key with its X25519 form for X3DH (one per account). */
export class IdentityKeyPair {
  private constructor(
    readonly seed: Uint8Array,
    readonly publicKey: Uint8Array,
    readonly x25519Private: Uint8Array,
    readonly x25519Public: Uint8Array,
  ) {}

  static fromSeed(seed: Uint8Array): IdentityKeyPair {
    if (!isBytes(seed) || seed.length !== 32) throw new InvalidKey('identity seed must be 32 bytes');
    const pub = ed25519.publicKeyFromSeed(seed);
    validateIdentityKey(pub); // the peer would refuse it, so refuse it here too
    return new IdentityKeyPair(seed.slice(), pub, ed25519.toX25519Private(seed), ed25519.toX25519Public(pub));
  }

  static generate(rng: Random = randomBytes): IdentityKeyPair {
    return IdentityKeyPair.fromSeed(rng(32));
  }

  sign(message: Uint8Array): Uint8Array {
    return ed25519.sign(this.seed, message);
  }
}

export class SignedPrekey {
  private constructor(
    readonly keyId: number,
    readonly privateKey: Uint8Array,
    readonly publicKey: Uint8Array,
    readonly signature: Uint8Array,
  ) {}

  static generate(identity: IdentityKeyPair, keyId: number, rng: Random = randomBytes): SignedPrekey {
    validateKeyId(keyId);
    const [priv, pub] = generateX25519(rng);
    return new SignedPrekey(keyId, priv, pub, identity.sign(pub));
  }

  static fromPrivate(identity: IdentityKeyPair, keyId: number, priv: Uint8Array): SignedPrekey {
    validateKeyId(keyId);
    const pub = x25519Public(priv);
    return new SignedPrekey(keyId, priv.slice(), pub, identity.sign(pub));
  }
}

export class OneTimePrekey {
  private constructor(
    readonly keyId: number,
    readonly privateKey: Uint8Array,
    private pub: Uint8Array | null,
  ) {}

  /**
   * Derived on first use: state holds only private keys, and loading a store with 100
   * one-time prekeys should not cost 100 scalar multiplications when none is needed.
   */
  get publicKey(): Uint8Array {
    this.pub ??= x25519Public(this.privateKey);
    return this.pub;
  }

  static generate(keyId: number, rng: Random = randomBytes): OneTimePrekey {
    validateKeyId(keyId);
    const [priv, pub] = generateX25519(rng);
    return new OneTimePrekey(keyId, priv, pub);
  }

  static fromPrivate(keyId: number, priv: Uint8Array): OneTimePrekey {
    validateKeyId(keyId);
    if (!isBytes(priv) || priv.length !== 32) throw new InvalidKey('X25519 private key must be 32 bytes');
    return new OneTimePrekey(keyId, priv.slice(), null);
  }
}

/** What GET /keys/{user_id}/bundle hands out (public keys only). */
export interface PrekeyBundle {
  identityKey: Uint8Array;
  signedPrekeyId: number;
  signedPrekey: Uint8Array;
  signedPrekeySignature: Uint8Array;
  oneTimePrekeyId: number | null;
  oneTimePrekey: Uint8Array | null;
}

/** What the initiator checks before X3DH; throws InvalidKey or InvalidSignature. */
export function validateBundle(bundle: PrekeyBundle): void {
  validateKeyId(bundle.signedPrekeyId);
  verifySignedPrekey(bundle.identityKey, bundle.signedPrekey, bundle.signedPrekeySignature);
  if ((bundle.oneTimePrekeyId === null) !== (bundle.oneTimePrekey === null)) {
    throw new InvalidKey('one-time prekey id and key must come together');
  }
  if (bundle.oneTimePrekeyId !== null && bundle.oneTimePrekey !== null) {
    validateKeyId(bundle.oneTimePrekeyId);
    validateX25519Public(bundle.oneTimePrekey);
  }
}

/** This client's private keys: identity, signed prekeys and unused one-time prekeys. */
export class LocalKeys {
  static readonly FORMAT = 'chatalot.local_keys';
  readonly signedPrekeys = new Map<number, SignedPrekey>();
  readonly oneTimePrekeys = new Map<number, OneTimePrekey>();

  constructor(readonly identity: IdentityKeyPair) {}

  addSignedPrekey(keyId: number, rng: Random = randomBytes): SignedPrekey {
    const spk = SignedPrekey.generate(this.identity, keyId, rng);
    this.signedPrekeys.set(keyId, spk);
    return spk;
  }

  /** A batch of one-time prekeys with ids firstId .. firstId + count - 1. */
  addOneTimePrekeys(firstId: number, count: number, rng: Random = randomBytes): OneTimePrekey[] {
    const made: OneTimePrekey[] = [];
    for (let i = 0; i < count; i++) made.push(OneTimePrekey.generate(firstId + i, rng));
    for (const opk of made) this.oneTimePrekeys.set(opk.keyId, opk);
    return made;
  }

  /** The bundle the server would hand out for these keys (tests, local simulation). */
  bundle(signedPrekeyId: number, oneTimePrekeyId: number | null = null): PrekeyBundle {
    const spk = this.signedPrekeys.get(signedPrekeyId);
    if (spk === undefined) throw new InvalidKeyId('unknown signed prekey');
    const opk = oneTimePrekeyId === null ? undefined : this.oneTimePrekeys.get(oneTimePrekeyId);
    if (oneTimePrekeyId !== null && opk === undefined) throw new InvalidKeyId('unknown one-time prekey');
    return {
      identityKey: this.identity.publicKey,
      signedPrekeyId: spk.keyId,
      signedPrekey: spk.publicKey,
      signedPrekeySignature: spk.signature,
      oneTimePrekeyId: opk === undefined ? null : opk.keyId,
      oneTimePrekey: opk === undefined ? null : opk.publicKey,
    };
  }

  toObj(): { [key: string]: Json } {
    const sorted = <T>(m: Map<number, T>) => [...m.keys()].sort((a, b) => a - b);
    return {
      identity_seed: b64(this.identity.seed),
      signed_prekeys: sorted(this.signedPrekeys).map((id) => [id, b64(this.signedPrekeys.get(id)!.privateKey)]),
      one_time_prekeys: sorted(this.oneTimePrekeys).map((id) => [id, b64(this.oneTimePrekeys.get(id)!.privateKey)]),
    };
  }

  static fromObj(r: Reader): LocalKeys {
    let identity: IdentityKeyPair;
    try {
      identity = IdentityKeyPair.fromSeed(r.bytes('identity_seed', 32));
    } catch (e) {
      if (e instanceof InvalidKey) throw new StateError('identity key in state fails the checks');
      throw e;
    }
    const keys = new LocalKeys(identity);
    for (const item of r.list('signed_prekeys')) {
      const [id, priv] = pair(r, item, 'signed_prekeys');
      keys.signedPrekeys.set(id, SignedPrekey.fromPrivate(identity, id, priv));
    }
    for (const item of r.list('one_time_prekeys')) {
      const [id, priv] = pair(r, item, 'one_time_prekeys');
      keys.oneTimePrekeys.set(id, OneTimePrekey.fromPrivate(id, priv));
    }
    return keys;
  }

  toBytes(): Uint8Array {
    return dump(LocalKeys.FORMAT, this.toObj());
  }

  static fromBytes(blob: Uint8Array): LocalKeys {
    return LocalKeys.fromObj(load(LocalKeys.FORMAT, blob));
  }
}

function pair(r: Reader, item: Json, name: string): [number, Uint8Array] {
  if (!Array.isArray(item) || item.length !== 2) throw new StateError(`malformed field ${name}`);
  return [r.intValue(item[0] as Json, name, 0, U32_MAX - 1), r.decodeB64(item[1] as Json, name, 32)];
}
