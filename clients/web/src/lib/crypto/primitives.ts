/**
 * Symmetric primitives and X25519 exactly as crypto.md fixes them, on @noble/hashes,
 * @noble/ciphers and @noble/curves. The checks crypto.md asks for (canonical, not small
 * order, all-zero output) are made here explicitly, whatever noble also does.
 */

import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToBigIntLE, isBytes, utf8 } from './bytes';
import { DecryptError, InvalidKey } from './errors';

/** A source of random bytes: `rng(n)` returns n bytes. Injected for deterministic vectors. */
export type Random = (n: number) => Uint8Array;

/** The default Random: the platform's CSPRNG (Web Crypto, in browsers and Node alike). */
export const randomBytes: Random = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));

export const KEY_SIZE = 32;
export const AEAD_TAG_SIZE = 16;
export const ZERO_SALT = new Uint8Array(32);

export const INFO_X3DH = utf8('chatalot-x3dh-shared-secret');
export const INFO_RATCHET = utf8('chatalot-ratchet');
export const INFO_MESSAGE_KEYS = utf8('chatalot-message-keys');
export const INFO_SENDER_KEY = utf8('chatalot-sender-key');

const P = 2n ** 255n - 19n;
const ONE = Uint8Array.of(0x01);
const TWO = Uint8Array.of(0x02);

export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmac(sha256, key, data);
}

export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return hkdf(sha256, ikm, salt, info, length);
}

/** KDF_CK: (mk, next_ck) = (HMAC(ck, 0x01), HMAC(ck, 0x02)). */
export function kdfCk(ck: Uint8Array): [Uint8Array, Uint8Array] {
  return [hmacSha256(ck, ONE), hmacSha256(ck, TWO)];
}

/** k || nonce = HKDF-SHA256(ikm = mk, salt = 0x00*32, info, 44): (32-byte key, 12-byte nonce). */
export function messageKeyMaterial(mk: Uint8Array, info: Uint8Array): [Uint8Array, Uint8Array] {
  const out = hkdfSha256(mk, ZERO_SALT, info, 44);
  return [out.slice(0, 32), out.slice(32, 44)];
}

/** ChaCha20-Poly1305 (IETF): ciphertext || 16-byte tag. */
export function aeadEncrypt(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  return chacha20poly1305(key, nonce, aad).encrypt(plaintext);
}

export function aeadDecrypt(key: Uint8Array, nonce: Uint8Array, ct: Uint8Array, aad: Uint8Array): Uint8Array {
  if (ct.length < AEAD_TAG_SIZE) throw new DecryptError('message authentication failed');
  try {
    return chacha20poly1305(key, nonce, aad).decrypt(ct);
  } catch {
    throw new DecryptError('message authentication failed');
  }
}

/** Decrypt with a message key of the given KDF info (ratchet or sender key). */
export function openWithMessageKey(mk: Uint8Array, info: Uint8Array, ct: Uint8Array, aad: Uint8Array): Uint8Array {
  const [key, nonce] = messageKeyMaterial(mk, info);
  return aeadDecrypt(key, nonce, ct, aad);
}

export function sealWithMessageKey(mk: Uint8Array, info: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const [key, nonce] = messageKeyMaterial(mk, info);
  return aeadEncrypt(key, nonce, plaintext, aad);
}

// u-coordinates (mod p) of the points of order 1, 2, 4 and 8 on Curve25519 and its twist.
const SMALL_ORDER_U = new Set<bigint>([
  0n,
  1n,
  P - 1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
]);

/**
 * Refuse an X25519 public key that is not 32 bytes, not canonical (u >= p, which includes
 * every encoding with bit 255 set) or of small order.
 */
export function validateX25519Public(pub: Uint8Array): void {
  if (!isBytes(pub) || pub.length !== 32) throw new InvalidKey('X25519 public key must be 32 bytes');
  const u = bytesToBigIntLE(pub);
  if (u >= P) throw new InvalidKey('X25519 public key not canonically encoded');
  if (SMALL_ORDER_U.has(u)) throw new InvalidKey('X25519 public key of small order');
}

export function x25519Public(priv: Uint8Array): Uint8Array {
  if (!isBytes(priv) || priv.length !== 32) throw new InvalidKey('X25519 private key must be 32 bytes');
  return nobleX25519.getPublicKey(priv);
}

/** A new X25519 pair [private, public]; the private key is the raw 32 bytes of rng. */
export function generateX25519(rng: Random = randomBytes): [Uint8Array, Uint8Array] {
  const priv = rng(32);
  if (priv.length !== 32) throw new Error('rng returned the wrong number of bytes');
  return [priv, x25519Public(priv)];
}

/** X25519(private, public), refusing bad public keys and an all-zero output. */
export function x25519(priv: Uint8Array, pub: Uint8Array): Uint8Array {
  validateX25519Public(pub);
  if (!isBytes(priv) || priv.length !== 32) throw new InvalidKey('X25519 private key must be 32 bytes');
  let out: Uint8Array;
  try {
    out = nobleX25519.getSharedSecret(priv, pub);
  } catch {
    throw new InvalidKey('X25519 output is all zero');
  }
  if (out.every((b) => b === 0)) throw new InvalidKey('X25519 output is all zero');
  return out;
}
