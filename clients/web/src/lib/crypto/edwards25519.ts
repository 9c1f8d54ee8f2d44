/**
 * Strict Edwards25519 point checks (crypto.md "Validation", RFC 8032 5.1.3) over noble's
 * point arithmetic. noble's strict decoding already refuses y >= p and x = 0 with the sign
 * bit set, but crypto.md asks every implementation to make each check itself, so they are
 * repeated here, and the order-L check (no small order, no torsion component) is added.
 * Used on public data only (variable time).
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToBigIntLE, bigIntToBytesLE, isBytes } from './bytes';

export const Point = ed25519.Point;
export type EdPoint = InstanceType<typeof ed25519.Point>;

export const P = 2n ** 255n - 19n;
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const Y_MASK = (1n << 255n) - 1n;
const Fp = ed25519.Point.Fp;

/** Strict decoding: null for a wrong length, y >= p, off-curve, or x = 0 with the sign bit set. */
export function decode(data: Uint8Array): EdPoint | null {
  if (!isBytes(data) || data.length !== 32) return null;
  const n = bytesToBigIntLE(data);
  const y = n & Y_MASK;
  const sign = n >> 255n;
  if (y >= P) return null;
  let point: EdPoint;
  try {
    point = Point.fromBytes(data, false);
  } catch {
    return null; // no x for this y: not on the curve
  }
  const affine = point.toAffine();
  if (affine.y !== y) return null;
  if (affine.x === 0n && sign === 1n) return null;
  return point;
}

export function encode(point: EdPoint): Uint8Array {
  return point.toBytes();
}

/** [L]P = identity and P != identity: no small order and no torsion component. */
export function hasOrderL(point: EdPoint): boolean {
  return !point.is0() && point.isTorsionFree();
}

/** [8]P = identity: P lies in the torsion subgroup (identity included). */
export function isSmallOrder(point: EdPoint): boolean {
  return point.isSmallOrder();
}

/** Montgomery u = (1 + y) / (1 - y) mod p, as 32 little-endian bytes (P != identity). */
export function toMontgomery(point: EdPoint): Uint8Array {
  const { y } = point.toAffine();
  const u = Fp.mul(Fp.create(1n + y), Fp.inv(Fp.create(1n - y)));
  return bigIntToBytesLE(u, 32);
}
