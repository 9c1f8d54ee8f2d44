/**
 * Sender Keys for group channels (crypto.md "Sender Keys").
 *
 * Each member has one sending chain per channel and, per channel and sender, up to 5
 * receiving chains (the most recent distributions). Receivers check the signature before
 * touching any key, and a failed decrypt leaves every chain unchanged.
 */

import { compare, concat, equal, fromHex, packU32, toHex, U32_MAX, unpackU32 } from './bytes';
import * as ed25519 from './ed25519';
import {
  encodeDistribution,
  parseDistribution,
  parseGroupEnvelope,
  SIGNATURE_SIZE,
  TYPE_SENDER_KEY,
  uuidBytes,
  VERSION,
} from './envelopes';
import {
  ChainExhausted,
  DuplicateMessage,
  InvalidKey,
  NoSession,
  StateError,
  TooManySkipped,
  UnknownSenderChain,
  WrongChannel,
} from './errors';
import { INFO_SENDER_KEY, kdfCk, openWithMessageKey, randomBytes, sealWithMessageKey, type Random } from './primitives';
import { b64, dump, load, Reader, type Json } from './serialization';

export const MAX_SKIPPED_PER_CHAIN = 2000;
export const MAX_AHEAD = 25_000;
export const CHAINS_PER_SENDER = 5;
export const REMEMBERED_CHAIN_IDS = 1000;

export type Id = string | Uint8Array;

/** This member's sending chain in one channel. */
export class SenderChain {
  readonly signingPublic: Uint8Array;

  constructor(
    readonly channelId: Uint8Array,
    readonly chainId: number,
    public iteration: number,
    public chainKey: Uint8Array,
    readonly signingSeed: Uint8Array,
  ) {
    this.signingPublic = ed25519.publicKeyFromSeed(signingSeed);
  }

  /** A new chain: rng gives chain_id (4 bytes), chain key (32), signing seed (32). */
  static create(channelId: Id, rng: Random = randomBytes): SenderChain {
    const chainId = unpackU32(rng(4));
    const chainKey = rng(32);
    const seed = rng(32);
    return new SenderChain(uuidBytes(channelId), chainId, 0, chainKey, seed);
  }

  /** The 89 bytes for the next message this chain will send. */
  distribution(): Uint8Array {
    if (this.iteration > U32_MAX) throw new ChainExhausted('sending chain exhausted');
    return encodeDistribution({
      channelId: this.channelId,
      chainId: this.chainId,
      iteration: this.iteration,
      chainKey: this.chainKey,
      signingKey: this.signingPublic,
    });
  }

  /** The group envelope; the chain advances (persist it before sending). */
  encrypt(senderId: Id, plaintext: Uint8Array): Uint8Array {
    const iteration = this.iteration;
    if (iteration > U32_MAX) throw new ChainExhausted('sending chain exhausted');
    const [mk, next] = kdfCk(this.chainKey);
    const ct = sealWithMessageKey(mk, INFO_SENDER_KEY, plaintext, concat(this.channelId, uuidBytes(senderId)));
    const body = concat(Uint8Array.of(VERSION, TYPE_SENDER_KEY), packU32(this.chainId), packU32(iteration), ct);
    const envelope = concat(body, ed25519.sign(this.signingSeed, body));
    this.chainKey = next;
    this.iteration = iteration + 1;
    return envelope;
  }

  toObj(): { [key: string]: Json } {
    return {
      channel_id: b64(this.channelId),
      chain_id: this.chainId,
      iteration: this.iteration,
      chain_key: b64(this.chainKey),
      signing_seed: b64(this.signingSeed),
    };
  }

  static fromObj(r: Reader): SenderChain {
    return new SenderChain(
      r.bytes('channel_id', 16),
      r.int('chain_id', 0, U32_MAX),
      r.int('iteration', 0, U32_MAX + 1),
      r.bytes('chain_key', 32),
      r.bytes('signing_seed', 32),
    );
  }
}

/** A sender's chain as one receiver holds it. */
export class ReceiverChain {
  constructor(
    readonly chainId: number,
    /** Of the next message key chainKey yields. */
    public iteration: number,
    public chainKey: Uint8Array,
    readonly signingPublic: Uint8Array,
    /** Skipped message keys by iteration, oldest first. */
    readonly skipped: Map<number, Uint8Array> = new Map(),
  ) {}

  /** Decrypt message `iteration` (signature already verified); atomic. */
  decrypt(iteration: number, ct: Uint8Array, aad: Uint8Array): Uint8Array {
    if (iteration < this.iteration) {
      const mk = this.skipped.get(iteration);
      if (mk === undefined) throw new DuplicateMessage('message key already used or discarded');
      const plaintext = openWithMessageKey(mk, INFO_SENDER_KEY, ct, aad);
      this.skipped.delete(iteration);
      return plaintext;
    }
    if (iteration - this.iteration > MAX_AHEAD) throw new TooManySkipped('message too far ahead of the chain');
    let ck = this.chainKey;
    const newSkipped: [number, Uint8Array][] = [];
    const keepFrom = iteration - MAX_SKIPPED_PER_CHAIN;
    for (let i = this.iteration; i < iteration; i++) {
      const [mk, next] = kdfCk(ck);
      if (i >= keepFrom) newSkipped.push([i, mk]);
      ck = next;
    }
    const [mk, next] = kdfCk(ck);
    const plaintext = openWithMessageKey(mk, INFO_SENDER_KEY, ct, aad);
    for (const [i, key] of newSkipped) this.skipped.set(i, key);
    while (this.skipped.size > MAX_SKIPPED_PER_CHAIN) this.skipped.delete(this.skipped.keys().next().value as number);
    this.chainKey = next;
    this.iteration = iteration + 1;
    return plaintext;
  }

  toObj(): { [key: string]: Json } {
    return {
      chain_id: this.chainId,
      iteration: this.iteration,
      chain_key: b64(this.chainKey),
      signing_public: b64(this.signingPublic),
      skipped: [...this.skipped].map(([i, mk]) => [i, b64(mk)]),
    };
  }

  static fromObj(r: Reader): ReceiverChain {
    const skipped = new Map<number, Uint8Array>();
    for (const item of r.list('skipped', MAX_SKIPPED_PER_CHAIN)) {
      if (!Array.isArray(item) || item.length !== 2) throw new StateError('malformed skipped key');
      skipped.set(r.intValue(item[0] as Json, 'skipped', 0, U32_MAX), r.decodeB64(item[1] as Json, 'skipped', 32));
    }
    const signingPublic = r.bytes('signing_public', 32);
    if (!ed25519.isValidPoint(signingPublic)) throw new StateError('signing key in state fails the checks');
    return new ReceiverChain(
      r.int('chain_id', 0, U32_MAX),
      r.int('iteration', 0, U32_MAX + 1),
      r.bytes('chain_key', 32),
      signingPublic,
      skipped,
    );
  }
}

/** What a receiver keeps per (channel, sender): chains newest last, remembered chain ids. */
interface SenderRecord {
  chains: ReceiverChain[];
  remembered: Set<number>;
}

const recordKey = (channel: Uint8Array, sender: Uint8Array) => toHex(channel) + toHex(sender);

/** One member's sender-key state across channels. */
export class SenderKeyStore {
  static readonly FORMAT = 'chatalot.sender_keys';
  readonly userId: Uint8Array;
  private sending = new Map<string, SenderChain>();
  private receiving = new Map<string, SenderRecord>();

  constructor(userId: Id) {
    this.userId = uuidBytes(userId);
  }

  /**
   * Start a new sending chain (first message, or after sender_key_rotation_required).
   * Returns its distribution, to be sent to each member as a DM envelope.
   */
  startChain(channelId: Id, rng: Random = randomBytes): Uint8Array {
    const chain = SenderChain.create(channelId, rng);
    this.sending.set(toHex(chain.channelId), chain);
    return chain.distribution();
  }

  sendingChain(channelId: Id): SenderChain | null {
    return this.sending.get(toHex(uuidBytes(channelId))) ?? null;
  }

  distribution(channelId: Id): Uint8Array {
    const chain = this.sendingChain(channelId);
    if (chain === null) throw new NoSession('no sending chain in this channel');
    return chain.distribution();
  }

  encrypt(channelId: Id, plaintext: Uint8Array): Uint8Array {
    const chain = this.sendingChain(channelId);
    if (chain === null) throw new NoSession('no sending chain in this channel');
    return chain.encrypt(this.userId, plaintext);
  }

  /**
   * Store a received distribution; false when ignored (chain id held or held before).
   * Throws WrongChannel when it names another channel than channelId (the channel it was
   * fetched for) and InvalidKey when the signing key fails the point checks.
   */
  processDistribution(channelId: Id, senderId: Id, data: Uint8Array): boolean {
    const channel = uuidBytes(channelId);
    const sender = uuidBytes(senderId);
    const dist = parseDistribution(data);
    if (!equal(dist.channelId, channel)) throw new WrongChannel('distribution for another channel');
    if (!ed25519.isValidPoint(dist.signingKey)) throw new InvalidKey('distribution signing key fails the point checks');
    const key = recordKey(channel, sender);
    let record = this.receiving.get(key);
    if (record === undefined) {
      record = { chains: [], remembered: new Set() };
      this.receiving.set(key, record);
    }
    if (record.remembered.has(dist.chainId) || record.chains.some((c) => c.chainId === dist.chainId)) return false;
    record.chains.push(new ReceiverChain(dist.chainId, dist.iteration, dist.chainKey, dist.signingKey));
    record.chains.splice(0, Math.max(0, record.chains.length - CHAINS_PER_SENDER));
    record.remembered.add(dist.chainId);
    while (record.remembered.size > REMEMBERED_CHAIN_IDS) {
      record.remembered.delete(record.remembered.values().next().value as number);
    }
    return true;
  }

  receivingChains(channelId: Id, senderId: Id): ReceiverChain[] {
    return [...(this.receiving.get(recordKey(uuidBytes(channelId), uuidBytes(senderId)))?.chains ?? [])];
  }

  /** Verify then decrypt a group envelope; no chain changes when it throws. */
  decrypt(channelId: Id, senderId: Id, envelope: Uint8Array): Uint8Array {
    const channel = uuidBytes(channelId);
    const sender = uuidBytes(senderId);
    const message = parseGroupEnvelope(envelope);
    const record = this.receiving.get(recordKey(channel, sender));
    let chain: ReceiverChain | null = null;
    for (const candidate of record?.chains ?? []) if (candidate.chainId === message.chainId) chain = candidate;
    if (chain === null) throw new UnknownSenderChain('no distribution for this chain');
    ed25519.verify(chain.signingPublic, envelope.subarray(0, envelope.length - SIGNATURE_SIZE), message.signature);
    return chain.decrypt(message.iteration, message.ciphertext, concat(channel, sender));
  }

  // --- serialization ---------------------------------------------------------------------

  toBytes(): Uint8Array {
    const sending = [...this.sending.keys()].map(fromHex).sort(compare);
    const receiving = [...this.receiving.keys()].map(fromHex).sort(compare);
    return dump(SenderKeyStore.FORMAT, {
      user_id: b64(this.userId),
      sending: sending.map((c) => this.sending.get(toHex(c))!.toObj()),
      receiving: receiving.map((k) => {
        const record = this.receiving.get(toHex(k))!;
        return {
          channel_id: b64(k.slice(0, 16)),
          sender_id: b64(k.slice(16)),
          chains: record.chains.map((c) => c.toObj()),
          remembered: [...record.remembered],
        };
      }),
    });
  }

  static fromBytes(blob: Uint8Array): SenderKeyStore {
    const r = load(SenderKeyStore.FORMAT, blob);
    const store = new SenderKeyStore(r.bytes('user_id', 16));
    for (const item of r.list('sending')) {
      const chain = SenderChain.fromObj(r.wrap(item, 'sending'));
      store.sending.set(toHex(chain.channelId), chain);
    }
    for (const item of r.list('receiving')) {
      const rr = r.wrap(item, 'receiving');
      const record: SenderRecord = { chains: [], remembered: new Set() };
      for (const c of rr.list('chains', CHAINS_PER_SENDER)) record.chains.push(ReceiverChain.fromObj(rr.wrap(c, 'chains')));
      for (const id of rr.list('remembered', REMEMBERED_CHAIN_IDS)) {
        record.remembered.add(rr.intValue(id, 'remembered', 0, U32_MAX));
      }
      store.receiving.set(recordKey(rr.bytes('channel_id', 16), rr.bytes('sender_id', 16)), record);
    }
    return store;
  }
}
