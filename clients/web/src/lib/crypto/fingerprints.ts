/** Key verification strings (crypto.md "Verification"). */

import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { bytesToBigIntBE, concat, toHex } from './bytes';
import { uuidBytes } from './envelopes';
import { validateIdentityKey } from './keys';

export const SAFETY_NUMBER_ITERATIONS = 5200;

/** SHA-256(IK_pub): 64 lowercase hex digits in 16 groups of 4, one space between. */
export function fingerprint(identityKey: Uint8Array): string {
  validateIdentityKey(identityKey);
  const digest = toHex(sha256(identityKey));
  return digest.match(/.{4}/g)!.join(' ');
}

/** One party's 30 digits (Signal's numeric fingerprint, version 0). */
export function safetyNumberHalf(identityKey: Uint8Array, userId: string | Uint8Array): string {
  validateIdentityKey(identityKey);
  let h = concat(new Uint8Array(2), identityKey, uuidBytes(userId));
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) h = sha512(concat(h, identityKey));
  let out = '';
  for (let i = 0; i < 30; i += 5) out += (bytesToBigIntBE(h.subarray(i, i + 5)) % 100000n).toString().padStart(5, '0');
  return out;
}

/** The 60 digits both parties compare: the two halves sorted, so it is symmetric. */
export function safetyNumber(
  identityA: Uint8Array,
  userA: string | Uint8Array,
  identityB: Uint8Array,
  userB: string | Uint8Array,
): string {
  const halves = [safetyNumberHalf(identityA, userA), safetyNumberHalf(identityB, userB)].sort();
  return halves[0] + halves[1];
}

/** Groups of 5 digits for display (12 groups). */
export function formatSafetyNumber(n: string): string {
  return n.match(/.{1,5}/g)?.join(' ') ?? '';
}
