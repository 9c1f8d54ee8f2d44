/**
 * The JSON bodies of the key and sender-key routes (protocol.md; chatalot/keys/contracts.py
 * and RegisterRequest), to and from the crypto library's types. Binary fields are standard
 * base64; anything malformed in a reply is an InvalidKey or InvalidEnvelope here, before
 * it reaches X3DH (which checks the keys themselves again).
 */

import { b64decode, b64encode, toHex } from '../crypto/bytes';
import { uuidBytes } from '../crypto/envelopes';
import { InvalidEnvelope, InvalidKey } from '../crypto/errors';
import type { PrekeyBundle } from '../crypto/keys';
import type { UploadKeys, WrappedDistribution } from './vault';

export interface SignedPrekeyJson {
  key_id: number;
  public_key: string;
  signature: string;
}

export interface OneTimePrekeyJson {
  key_id: number;
  public_key: string;
}

/** The key fields of POST /auth/register and of PUT /keys/identity (plus password). */
export interface KeyUploadJson {
  identity_key: string;
  signed_prekey: SignedPrekeyJson;
  one_time_prekeys: OneTimePrekeyJson[];
}

/** GET /keys/{user_id}/bundle. */
export interface KeyBundleJson {
  user_id: string;
  identity_key: string;
  signed_prekey: SignedPrekeyJson;
  one_time_prekey: OneTimePrekeyJson | null;
  position: string | null;
}

/** POST /channels/{id}/sender-keys. */
export interface SenderKeyUploadJson {
  chain_id: number;
  distributions: { recipient_id: string; envelope: string }[];
}

/** An item of GET /channels/{id}/sender-keys (and of sender_key_updated). */
export interface StoredSenderKeyJson {
  sender_id: string;
  chain_id: number;
  envelope: string;
  created_at: string;
  position: string;
}

/** A UUID's canonical text form (8-4-4-4-12, lowercase). */
export function uuidString(id: string | Uint8Array): string {
  const h = toHex(uuidBytes(id));
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function key(text: unknown, length: number, what: string): Uint8Array {
  let data: Uint8Array;
  try {
    if (typeof text !== 'string') throw new Error();
    data = b64decode(text);
  } catch {
    throw new InvalidKey(`${what} is not base64`);
  }
  if (data.length !== length) throw new InvalidKey(`${what} has the wrong length`);
  return data;
}

function keyId(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new InvalidKey('key id is not an integer');
  return value;
}

export function keyUploadJson(keys: UploadKeys): KeyUploadJson {
  return {
    identity_key: b64encode(keys.identityKey),
    signed_prekey: {
      key_id: keys.signedPrekey.keyId,
      public_key: b64encode(keys.signedPrekey.publicKey),
      signature: b64encode(keys.signedPrekey.signature),
    },
    one_time_prekeys: oneTimePrekeysJson(keys.oneTimePrekeys),
  };
}

/** POST /keys/prekeys/one-time body items. */
export function oneTimePrekeysJson(list: { keyId: number; publicKey: Uint8Array }[]): OneTimePrekeyJson[] {
  return list.map((k) => ({ key_id: k.keyId, public_key: b64encode(k.publicKey) }));
}

/** A fetched bundle as the library's PrekeyBundle (lengths checked; the rest at X3DH). */
export function bundleFromJson(json: KeyBundleJson): PrekeyBundle {
  const opk = json.one_time_prekey;
  return {
    identityKey: key(json.identity_key, 32, 'identity key'),
    signedPrekeyId: keyId(json.signed_prekey?.key_id),
    signedPrekey: key(json.signed_prekey?.public_key, 32, 'signed prekey'),
    signedPrekeySignature: key(json.signed_prekey?.signature, 64, 'signed prekey signature'),
    oneTimePrekeyId: opk ? keyId(opk.key_id) : null,
    oneTimePrekey: opk ? key(opk.public_key, 32, 'one-time prekey') : null,
  };
}

export function senderKeyUploadJson(wrapped: WrappedDistribution): SenderKeyUploadJson {
  return {
    chain_id: wrapped.chainId,
    distributions: [...wrapped.copies].map(([recipient, envelope]) => ({
      recipient_id: uuidString(recipient),
      envelope: b64encode(envelope),
    })),
  };
}

/** The envelope bytes of a message's `ciphertext` (or a stored sender key's `envelope`). */
export function envelopeFromBase64(text: string): Uint8Array {
  try {
    return b64decode(text);
  } catch {
    throw new InvalidEnvelope('envelope is not base64');
  }
}

export const envelopeToBase64 = b64encode;
