/**
 * Strict Ed25519 (crypto.md "Validation"): RFC 8032 5.1.7 with the cofactorless equation,
 * S < L, canonical A and R, and A and R of order exactly L. noble's verify uses the
 * cofactored equation and does not check the order of A or R, so verification is written
 * out here on noble's point arithmetic:
 *
 * - S < L, and A decoded strictly with order exactly L (cached per key).
 * - R: canonical y, not one of the 8 small-order points (their y values; the x = 0 points
 *   with the sign bit set are among them).
 * - [S]B - [k]A is computed and its canonical encoding compared with the R bytes. With A of
 *   order L, the result lies in the prime-order subgroup, so equality also proves R is a
 *   strictly encoded point of order L (the identity is excluded by its y): the same
 *   answer as decoding R and computing [L]R, as in the Python library.
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToBigIntLE, concat, equal, isBytes, toHex } from './bytes';
import * as ed from './edwards25519';
import { InvalidKey, InvalidSignature } from './errors';

export const SIGNATURE_SIZE = 64;
const Y_MASK = (1n << 255n) - 1n;

/** y-coordinates of the 8 points of small order. */
export const SMALL_ORDER_Y = new Set<bigint>([
  0n,
  1n,
  ed.P - 1n,
  55188659117513257062467267217118295137698188065244968500265048394206261417927n,
  2707385501144840649318225287225658788936804267575313519463743609750303402022n,
]);

const CACHE_SIZE = 4096;
const checkedPoints = new Map<string, ed.EdPoint | null>();

/** The decoded point when it passes every check, else null (cached: keys repeat). */
function checkedPoint(data: Uint8Array): ed.EdPoint | null {
  const key = toHex(data);
  const hit = checkedPoints.get(key);
  if (hit !== undefined) return hit;
  const point = ed.decode(data);
  const result = point !== null && ed.hasOrderL(point) ? point : null;
  if (checkedPoints.size >= CACHE_SIZE) {
    checkedPoints.delete(checkedPoints.keys().next().value as string);
  }
  checkedPoints.set(key, result);
  return result;
}

/** Strict decoding (y < p, on curve, no x = 0 with sign set) and order exactly L. */
export function isValidPoint(data: Uint8Array): boolean {
  return isBytes(data) && data.length === 32 && checkedPoint(data) !== null;
}

export function validatePoint(data: Uint8Array): void {
  if (!isValidPoint(data)) throw new InvalidKey('Ed25519 public key fails the point checks');
}

function checkSeed(seed: Uint8Array): void {
  if (!isBytes(seed) || seed.length !== 32) throw new InvalidKey('Ed25519 seed must be 32 bytes');
}

export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  checkSeed(seed);
  return ed25519.getPublicKey(seed);
}

/** Ed25519 signature (RFC 8032, deterministic). */
export function sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  checkSeed(seed);
  return ed25519.sign(message, seed);
}

/** Strict verification; throws InvalidSignature on any failure, a bad A included. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): void {
  if (!isBytes(signature) || signature.length !== SIGNATURE_SIZE || !isBytes(publicKey) || publicKey.length !== 32) {
    throw new InvalidSignature('signature refused');
  }
  const rBytes = signature.subarray(0, 32);
  const s = bytesToBigIntLE(signature.subarray(32));
  if (s >= ed.L) throw new InvalidSignature('signature refused');
  const ry = bytesToBigIntLE(rBytes) & Y_MASK;
  if (ry >= ed.P || SMALL_ORDER_Y.has(ry)) throw new InvalidSignature('signature refused');
  const a = checkedPoint(publicKey);
  if (a === null) throw new InvalidSignature('signature refused');
  const k = bytesToBigIntLE(sha512(concat(rBytes, publicKey, message))) % ed.L;
  const r = ed.Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k));
  if (!equal(r.toBytes(), rBytes)) throw new InvalidSignature('signature refused');
}

const montgomeryCache = new Map<string, Uint8Array>();

/** Montgomery u = (1 + y) / (1 - y) of a validated Ed25519 public key. */
export function toX25519Public(edPublic: Uint8Array): Uint8Array {
  if (!isBytes(edPublic) || edPublic.length !== 32) throw new InvalidKey('Ed25519 public key must be 32 bytes');
  const key = toHex(edPublic);
  const hit = montgomeryCache.get(key);
  if (hit !== undefined) return hit.slice();
  const point = checkedPoint(edPublic);
  if (point === null) throw new InvalidKey('Ed25519 public key fails the point checks');
  const u = ed.toMontgomery(point);
  if (montgomeryCache.size >= CACHE_SIZE) montgomeryCache.delete(montgomeryCache.keys().next().value as string);
  montgomeryCache.set(key, u);
  return u.slice();
}

/** clamp(SHA-512(seed)[0:32]): the X25519 scalar matching toX25519Public. */
export function toX25519Private(seed: Uint8Array): Uint8Array {
  checkSeed(seed);
  const h = sha512(seed).slice(0, 32);
  h[0] &= 248;
  h[31] &= 127;
  h[31] |= 64;
  return h;
}
