/**
 * Wire formats of crypto.md: DM envelopes 0x01/0x02, group envelope 0x03, and the 89-byte
 * sender-key distribution. Parsing is strict: wrong version, type or length is an
 * InvalidEnvelope, never a best-effort guess.
 */

import { concat, packU32, U32_MAX, unpackU32 } from './bytes';
import { InvalidEnvelope } from './errors';
import { AEAD_TAG_SIZE } from './primitives';

export const VERSION = 0x01;
export const TYPE_PREKEY = 0x01;
export const TYPE_MESSAGE = 0x02;
export const TYPE_SENDER_KEY = 0x03;
export const HEADER_SIZE = 40;
export const DISTRIBUTION_SIZE = 89;
export const SIGNATURE_SIZE = 64;
const NONE = U32_MAX;

const PREKEY_MIN = 2 + 32 + 32 + 4 + 4 + HEADER_SIZE + AEAD_TAG_SIZE;
export const MESSAGE_MIN = 2 + HEADER_SIZE + AEAD_TAG_SIZE;
const GROUP_MIN = 2 + 4 + 4 + AEAD_TAG_SIZE + SIGNATURE_SIZE;

/** Double Ratchet header: dh_pub (32) || pn (u32) || n (u32). */
export interface Header {
  dh: Uint8Array;
  pn: number;
  n: number;
}

export function encodeHeader(h: Header): Uint8Array {
  return concat(h.dh, packU32(h.pn), packU32(h.n));
}

export function parseHeader(data: Uint8Array): Header {
  if (data.length !== HEADER_SIZE) throw new InvalidEnvelope('malformed header');
  return { dh: data.slice(0, 32), pn: unpackU32(data, 32), n: unpackU32(data, 36) };
}

/** 0x01 0x01: the initiator's message until she has received a reply. */
export interface PrekeyMessage {
  type: 1;
  identityKey: Uint8Array;
  baseKey: Uint8Array;
  signedPrekeyId: number;
  oneTimePrekeyId: number | null;
  header: Uint8Array;
  ciphertext: Uint8Array;
}

/** 0x01 0x02: an ordinary Double Ratchet message. */
export interface RatchetMessage {
  type: 2;
  header: Uint8Array;
  ciphertext: Uint8Array;
}

export type DmEnvelope = PrekeyMessage | RatchetMessage;

export function encodeDmEnvelope(m: DmEnvelope): Uint8Array {
  if (m.type === TYPE_MESSAGE) return concat(Uint8Array.of(VERSION, TYPE_MESSAGE), m.header, m.ciphertext);
  return concat(
    Uint8Array.of(VERSION, TYPE_PREKEY),
    m.identityKey,
    m.baseKey,
    packU32(m.signedPrekeyId),
    packU32(m.oneTimePrekeyId === null ? NONE : m.oneTimePrekeyId),
    m.header,
    m.ciphertext,
  );
}

export function parseDmEnvelope(data: Uint8Array): DmEnvelope {
  if (data.length < 2 || data[0] !== VERSION) throw new InvalidEnvelope('unknown envelope version');
  const kind = data[1];
  if (kind === TYPE_MESSAGE) {
    if (data.length < MESSAGE_MIN) throw new InvalidEnvelope('envelope too short');
    return { type: TYPE_MESSAGE, header: data.slice(2, 42), ciphertext: data.slice(42) };
  }
  if (kind === TYPE_PREKEY) {
    if (data.length < PREKEY_MIN) throw new InvalidEnvelope('envelope too short');
    const spkId = unpackU32(data, 66);
    const opkId = unpackU32(data, 70);
    if (spkId === NONE) throw new InvalidEnvelope('reserved signed prekey id');
    return {
      type: TYPE_PREKEY,
      identityKey: data.slice(2, 34),
      baseKey: data.slice(34, 66),
      signedPrekeyId: spkId,
      oneTimePrekeyId: opkId === NONE ? null : opkId,
      header: data.slice(74, 114),
      ciphertext: data.slice(114),
    };
  }
  throw new InvalidEnvelope('not a DM envelope');
}

/** 0x01 0x03: chain_id || iteration || ct || signature over everything before it. */
export interface GroupMessage {
  chainId: number;
  iteration: number;
  ciphertext: Uint8Array;
  signature: Uint8Array;
}

export function groupSignedPart(m: Omit<GroupMessage, 'signature'>): Uint8Array {
  return concat(Uint8Array.of(VERSION, TYPE_SENDER_KEY), packU32(m.chainId), packU32(m.iteration), m.ciphertext);
}

export function encodeGroupEnvelope(m: GroupMessage): Uint8Array {
  return concat(groupSignedPart(m), m.signature);
}

export function parseGroupEnvelope(data: Uint8Array): GroupMessage {
  if (data.length < 2 || data[0] !== VERSION) throw new InvalidEnvelope('unknown envelope version');
  if (data[1] !== TYPE_SENDER_KEY) throw new InvalidEnvelope('not a group envelope');
  if (data.length < GROUP_MIN) throw new InvalidEnvelope('envelope too short');
  return {
    chainId: unpackU32(data, 2),
    iteration: unpackU32(data, 6),
    ciphertext: data.slice(10, data.length - SIGNATURE_SIZE),
    signature: data.slice(data.length - SIGNATURE_SIZE),
  };
}

/** 0x01 || channel_id || chain_id || iteration || chain_key || signing key: 89 bytes. */
export interface SenderKeyDistribution {
  channelId: Uint8Array;
  chainId: number;
  iteration: number;
  chainKey: Uint8Array;
  signingKey: Uint8Array;
}

export function encodeDistribution(d: SenderKeyDistribution): Uint8Array {
  return concat(Uint8Array.of(VERSION), d.channelId, packU32(d.chainId), packU32(d.iteration), d.chainKey, d.signingKey);
}

export function parseDistribution(data: Uint8Array): SenderKeyDistribution {
  if (data.length !== DISTRIBUTION_SIZE) throw new InvalidEnvelope('a distribution is exactly 89 bytes');
  if (data[0] !== VERSION) throw new InvalidEnvelope('unknown distribution version');
  return {
    channelId: data.slice(1, 17),
    chainId: unpackU32(data, 17),
    iteration: unpackU32(data, 21),
    chainKey: data.slice(25, 57),
    signingKey: data.slice(57, 89),
  };
}

/** A user or channel id as its 16 RFC 4122 bytes (from a UUID string or the bytes). */
export function uuidBytes(value: string | Uint8Array): Uint8Array {
  if (value instanceof Uint8Array) {
    if (value.length === 16) return value;
  } else if (/^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/.test(value)) {
    const hex = value.replace(/-/g, '');
    const out = new Uint8Array(16);
    for (let i = 0; i < 16; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    return out;
  }
  throw new TypeError('an id must be a UUID or its 16 bytes');
}
