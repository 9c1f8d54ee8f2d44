/**
 * The browser's E2E state (crypto.md "Sessions" and "State and storage"): this account's
 * keys and pairwise sessions, its sender keys, and the identity keys it has pinned, kept
 * in a BlobStore (IndexedDB) and used only under an exclusive lock (Web Locks), so two tabs
 * never advance the same state from the same starting point.
 *
 * Every operation is: take the lock, load the state, run one step of the library, persist
 * the state if it changed, release. An encrypt resolves with its envelope only after the
 * advanced state is stored: a crash after sending can never reuse a message key and
 * nonce. A decrypt (or a stored distribution) is persisted before it is acknowledged.
 * The unit of locking is the whole store (one lock for DMs, one for sender keys): simple
 * and correct; finer locks would need a per-peer storage format.
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { b64decode, b64encode, concat, equal, fromHex, toHex } from '../crypto/bytes';
import { parseDistribution, uuidBytes } from '../crypto/envelopes';
import { DuplicateMessage, IdentityMismatch, NoSession, StateError } from '../crypto/errors';
import { IdentityKeyPair, LocalKeys, type PrekeyBundle } from '../crypto/keys';
import { randomBytes, type Random } from '../crypto/primitives';
import { SenderKeyStore } from '../crypto/senderKeys';
import { SessionStore, type DecryptOptions } from '../crypto/sessions';
import { defaultLocks, type Locks } from './locks';
import type { BlobStore } from './storage';

export type Id = string | Uint8Array;
/** The outcome of comparing a peer's identity key with the pinned one. */
export type IdentityStatus = 'new' | 'same' | 'changed';

/** A member's distribution for a channel, one DM envelope per recipient (hex user id). */
export interface WrappedDistribution {
  chainId: number;
  copies: Map<string, Uint8Array>;
}

/** What registration (or a key reset) uploads: public keys only. */
export interface UploadKeys {
  identityKey: Uint8Array;
  signedPrekey: { keyId: number; publicKey: Uint8Array; signature: Uint8Array };
  oneTimePrekeys: { keyId: number; publicKey: Uint8Array }[];
}

/** To whom my sending chain in a channel was distributed (user ids as the app spells them). */
export interface SentRecord {
  chainId: number;
  members: string[];
}

const sentBytes = (chainId: number, members: string[]) => enc.encode(JSON.stringify({ chainId, members }));

/** Writes to make in the same transaction as the state's. */
type Writes = [string, Uint8Array][];

const enc = new TextEncoder();
const dec = new TextDecoder();
const dmContext = (peer: Id) => concat(Uint8Array.of(1), uuidBytes(peer));
const groupContext = (channel: Id, sender: Id) => concat(Uint8Array.of(3), uuidBytes(channel), uuidBytes(sender));

/** A store as parsed (or last written) by this vault, with the bytes it corresponds to. */
interface Parsed<S> {
  blob?: Uint8Array;
  store?: S;
}

export class E2EVault {
  private readonly user: string;
  private readonly parsedSessions: Parsed<SessionStore> = {};
  private readonly parsedSenderKeys: Parsed<SenderKeyStore> = {};

  constructor(
    private readonly store: BlobStore,
    userId: Id,
    private readonly locks: Locks = defaultLocks(),
  ) {
    this.user = toHex(uuidBytes(userId));
  }

  private key(kind: 'dm' | 'group' | 'pins'): string {
    return `${kind}:${this.user}`;
  }

  private lock(kind: 'dm' | 'group' | 'pins'): string {
    return `chatalot-e2e:${kind}:${this.user}`;
  }

  // --- keys -------------------------------------------------------------------------------

  async hasKeys(): Promise<boolean> {
    return (await this.store.get(this.key('dm'))) !== undefined;
  }

  /**
   * New keys for this browser: identity, signed prekey, one-time prekeys. Refuses to replace
   * existing keys unless `replace` (a browser that lost its keys registers new ones; one
   * that has them must not silently drop its sessions).
   */
  async createKeys(
    opts: { signedPrekeyId?: number; firstOneTimeId?: number; oneTimePrekeys?: number; replace?: boolean } = {},
    rng: Random = randomBytes,
  ): Promise<UploadKeys> {
    return this.locks.run(this.lock('dm'), async () => {
      if (!opts.replace && (await this.store.get(this.key('dm'))) !== undefined) {
        throw new StateError('keys already exist');
      }
      const keys = new LocalKeys(IdentityKeyPair.generate(rng));
      const spk = keys.addSignedPrekey(opts.signedPrekeyId ?? 1, rng);
      const opks = keys.addOneTimePrekeys(opts.firstOneTimeId ?? 1, opts.oneTimePrekeys ?? 100, rng);
      await this.store.put(this.key('dm'), new SessionStore(keys).toBytes());
      return {
        identityKey: keys.identity.publicKey,
        signedPrekey: { keyId: spk.keyId, publicKey: spk.publicKey, signature: spk.signature },
        oneTimePrekeys: opks.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey })),
      };
    });
  }

  /** More one-time prekeys (after keys_low); returns the public halves to upload. */
  async addOneTimePrekeys(firstId: number, count: number, rng: Random = randomBytes) {
    return this.withSessions((s) =>
      s.keys.addOneTimePrekeys(firstId, count, rng).map((k) => ({ keyId: k.keyId, publicKey: k.publicKey })),
    );
  }

  async identityKey(): Promise<Uint8Array> {
    return this.withSessions((s) => s.keys.identity.publicKey.slice());
  }

  // --- pairwise sessions ------------------------------------------------------------------

  /**
   * Run fn on the session store under the DM lock; the store is persisted (and the put
   * committed) before the returned promise resolves, and not at all when fn throws.
   */
  async withSessions<T>(fn: (sessions: SessionStore, alsoWrite: Writes) => T): Promise<T> {
    return this.locks.run(this.lock('dm'), async () => {
      const blob = await this.store.get(this.key('dm'));
      if (blob === undefined) throw new NoSession('no E2E keys in this browser');
      return this.step(this.parsedSessions, blob, SessionStore.fromBytes, 'dm', fn);
    });
  }

  /**
   * One step on a store: parse it (or reuse the object parsed last time when the stored
   * bytes are still the ones it was parsed from or written as: another tab changes them),
   * run fn, write the new bytes with fn's extra writes in one transaction. The parsed
   * object is kept only once the write succeeded; on any failure it is dropped.
   */
  private async step<S extends { toBytes(): Uint8Array }, T>(
    cache: Parsed<S>,
    blob: Uint8Array | undefined,
    parse: (blob: Uint8Array) => S,
    kind: 'dm' | 'group',
    fn: (store: S, alsoWrite: Writes) => T,
    fresh?: () => S,
  ): Promise<T> {
    const hit = cache.blob !== undefined && blob !== undefined && equal(cache.blob, blob) ? cache.store : undefined;
    cache.blob = undefined;
    cache.store = undefined;
    const store = hit ?? (blob === undefined ? fresh!() : parse(blob));
    const writes: Writes = [];
    const result = fn(store, writes);
    const after = store.toBytes();
    if (blob === undefined || !equal(after, blob)) writes.unshift([this.key(kind), after]);
    if (writes.length) await this.store.putMany(writes);
    cache.blob = after;
    cache.store = store;
    return result;
  }

  /**
   * Start a session from a fetched bundle. The bundle's identity key is checked against
   * the pinned one first: a first key is pinned, a changed key is refused
   * (IdentityMismatch) until the user has seen the change and acceptIdentity was called.
   */
  async initiate(peer: Id, bundle: PrekeyBundle, rng: Random = randomBytes): Promise<IdentityStatus> {
    const status = await this.checkIdentity(peer, bundle.identityKey);
    if (status === 'changed') throw new IdentityMismatch('the peer identity key changed');
    await this.withSessions((s) => void s.initiate(peer, bundle, rng));
    return status;
  }

  /**
   * The envelope for a DM; resolves only after the advanced state is stored, together with
   * the plaintext (one cannot decrypt one's own messages: history shows it from here).
   */
  async encryptDm(peer: Id, plaintext: Uint8Array): Promise<Uint8Array> {
    return this.withSessions((s, alsoWrite) => {
      const envelope = s.encrypt(peer, plaintext);
      alsoWrite.push([this.plaintextKey(dmContext(peer), envelope), plaintext]);
      return envelope;
    });
  }

  /**
   * Decrypt a DM envelope. A prekey envelope must carry the identity key pinned for the
   * sender (or options.expectedIdentity, e.g. from the sender's bundle when nothing is
   * pinned yet); with neither, the key of the new session is pinned on first use.
   */
  async decryptDm(peer: Id, envelope: Uint8Array, options: DecryptOptions = {}): Promise<Uint8Array> {
    const context = dmContext(peer);
    const known = await this.knownPlaintext(context, envelope);
    if (known !== undefined) return known;
    const pinned = await this.pinnedIdentity(peer);
    const expectedIdentity = options.expectedIdentity ?? pinned;
    const [plaintext, remote] = await this.rememberingDecrypt(context, envelope, () =>
      this.withSessions((s, alsoWrite) => {
        const out = s.decrypt(peer, envelope, { ...options, expectedIdentity });
        alsoWrite.push([this.plaintextKey(context, envelope), out]);
        return [out, s.identityKey(peer)] as const;
      }),
    );
    if (pinned === null && remote !== null) await this.checkIdentity(peer, remote);
    return plaintext;
  }

  // --- plaintexts kept locally ------------------------------------------------------------

  /**
   * Message keys are single-use, so the plaintext of every message sent or decrypted is
   * kept, in the same transaction as the state that consumed its key, under a hash of its
   * conversation and envelope: history fetched again is shown from here, and a server
   * that moves an envelope to another conversation finds nothing.
   */
  private plaintextKey(context: Uint8Array, envelope: Uint8Array): string {
    return `plaintext:${this.user}:${toHex(sha256(concat(context, sha256(envelope))))}`;
  }

  /** The kept plaintext of this envelope in this conversation, if any. */
  private knownPlaintext(context: Uint8Array, envelope: Uint8Array): Promise<Uint8Array | undefined> {
    return this.store.get(this.plaintextKey(context, envelope));
  }

  /**
   * Run a decrypt; when it fails as a duplicate, another tab may have just decrypted the
   * same envelope: its plaintext is then kept, and returned.
   */
  private async rememberingDecrypt<T>(context: Uint8Array, envelope: Uint8Array, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (e) {
      if (!(e instanceof DuplicateMessage)) throw e;
      const known = await this.knownPlaintext(context, envelope);
      if (known === undefined) throw e;
      return [known, null] as T;
    }
  }

  /** The kept plaintext of a DM envelope (sent or received), or undefined. */
  async dmPlaintext(peer: Id, envelope: Uint8Array): Promise<Uint8Array | undefined> {
    return this.knownPlaintext(dmContext(peer), envelope);
  }

  /** The kept plaintext of a group envelope (sent or received), or undefined. */
  async groupPlaintext(channel: Id, sender: Id, envelope: Uint8Array): Promise<Uint8Array | undefined> {
    return this.knownPlaintext(groupContext(channel, sender), envelope);
  }

  async hasSession(peer: Id): Promise<boolean> {
    return this.withSessions((s) => s.hasSession(peer));
  }

  // --- pinned identity keys ---------------------------------------------------------------

  private async loadPins(): Promise<Record<string, string>> {
    const blob = await this.store.get(this.key('pins'));
    if (blob === undefined) return {};
    try {
      const pins = JSON.parse(dec.decode(blob)) as unknown;
      if (typeof pins !== 'object' || pins === null || Array.isArray(pins)) throw new Error();
      return pins as Record<string, string>;
    } catch {
      throw new StateError('pinned identity keys are corrupted');
    }
  }

  /**
   * Compare a peer's identity key (from its bundle or a prekey envelope) with the pinned
   * one: the first key seen is pinned ('new'); a different one is reported ('changed') and
   * NOT pinned: the app shows the key change and calls acceptIdentity once the user agrees.
   */
  async checkIdentity(peer: Id, identityKey: Uint8Array): Promise<IdentityStatus> {
    return this.locks.run(this.lock('pins'), async () => {
      const pins = await this.loadPins();
      const name = toHex(uuidBytes(peer));
      const pinned = pins[name];
      if (pinned === undefined) {
        pins[name] = b64encode(identityKey);
        await this.store.put(this.key('pins'), enc.encode(JSON.stringify(pins)));
        return 'new';
      }
      return equal(b64decode(pinned), identityKey) ? 'same' : 'changed';
    });
  }

  async pinnedIdentity(peer: Id): Promise<Uint8Array | null> {
    const pinned = (await this.loadPins())[toHex(uuidBytes(peer))];
    return pinned === undefined ? null : b64decode(pinned);
  }

  async acceptIdentity(peer: Id, identityKey: Uint8Array): Promise<void> {
    await this.locks.run(this.lock('pins'), async () => {
      const pins = await this.loadPins();
      pins[toHex(uuidBytes(peer))] = b64encode(identityKey);
      await this.store.put(this.key('pins'), enc.encode(JSON.stringify(pins)));
    });
  }

  // --- sender keys ------------------------------------------------------------------------

  async withSenderKeys<T>(fn: (store: SenderKeyStore, alsoWrite: Writes) => T): Promise<T> {
    return this.locks.run(this.lock('group'), async () => {
      const blob = await this.store.get(this.key('group'));
      return this.step(this.parsedSenderKeys, blob, SenderKeyStore.fromBytes, 'group', fn, () => new SenderKeyStore(fromHex(this.user)));
    });
  }

  /** A new sending chain in the channel; returns the distribution for each member. */
  async startChain(channel: Id, rng: Random = randomBytes): Promise<Uint8Array> {
    return this.withSenderKeys((s) => s.startChain(channel, rng));
  }

  /**
   * Who my current chain in `channel` was given to (stored, so a reload knows): null when
   * never recorded. `chainId` is the chain the record is about.
   */
  async distributedTo(channel: Id): Promise<SentRecord | null> {
    const blob = await this.store.get(this.sentKey(channel));
    if (blob === undefined) return null;
    const parsed = JSON.parse(dec.decode(blob)) as SentRecord;
    return { chainId: parsed.chainId, members: parsed.members };
  }

  /** My current sending chain's id in `channel`, null when I have none. */
  async sendingChainId(channel: Id): Promise<number | null> {
    return this.withSenderKeys((s) => {
      const chain = s.sendingChain(channel);
      return chain === null ? null : parseDistribution(chain.distribution()).chainId;
    });
  }

  /** Record (after the upload succeeded) that chainId was distributed to members. */
  async recordDistributed(channel: Id, chainId: number, members: string[]): Promise<void> {
    await this.locks.run(this.lock('group'), () => this.store.put(this.sentKey(channel), sentBytes(chainId, members)));
  }

  /**
   * sender_key_rotation_required: a member left. My chain in the channel (if any) is
   * replaced at once, and the record says the new one was given to nobody, in one
   * transaction, before this resolves: a page reloaded before the next send can no longer
   * continue the chain the removed member holds.
   */
  async rotateSenderKey(channel: Id, rng: Random = randomBytes): Promise<void> {
    await this.withSenderKeys((s, alsoWrite) => {
      if (s.sendingChain(channel) === null) return;
      const chainId = parseDistribution(s.startChain(channel, rng)).chainId;
      alsoWrite.push([this.sentKey(channel), sentBytes(chainId, [])]);
    });
  }

  private sentKey(channel: Id): string {
    return `sent:${this.user}:${toHex(uuidBytes(channel))}`;
  }

  /** The group envelope; resolves after the chain and the plaintext are stored. */
  async encryptGroup(channel: Id, plaintext: Uint8Array): Promise<Uint8Array> {
    return this.withSenderKeys((s, alsoWrite) => {
      const envelope = s.encrypt(channel, plaintext);
      alsoWrite.push([this.plaintextKey(groupContext(channel, this.user), envelope), plaintext]);
      return envelope;
    });
  }

  /** Store a distribution fetched for `channel`; resolves after it is stored (then ack). */
  async processDistribution(channel: Id, sender: Id, distribution: Uint8Array): Promise<boolean> {
    return this.withSenderKeys((s) => s.processDistribution(channel, sender, distribution));
  }

  async decryptGroup(channel: Id, sender: Id, envelope: Uint8Array): Promise<Uint8Array> {
    const context = groupContext(channel, sender);
    const known = await this.knownPlaintext(context, envelope);
    if (known !== undefined) return known;
    const [plaintext] = await this.rememberingDecrypt(context, envelope, () =>
      this.withSenderKeys((s, alsoWrite) => {
        const out = s.decrypt(channel, sender, envelope);
        alsoWrite.push([this.plaintextKey(context, envelope), out]);
        return [out] as const;
      }),
    );
    return plaintext;
  }

  /**
   * The copies of this member's distribution for `channel`, one DM envelope per recipient
   * (the pairwise sessions must exist), for POST /channels/{id}/sender-keys. Starts a chain
   * when there is none (or when `rotate`, after sender_key_rotation_required). Every
   * session's advanced state is stored before the envelopes are returned.
   */
  async wrapDistribution(
    channel: Id,
    recipients: Id[],
    opts: { rotate?: boolean; rng?: Random } = {},
  ): Promise<WrappedDistribution> {
    const distribution = await this.withSenderKeys((s) =>
      opts.rotate || s.sendingChain(channel) === null ? s.startChain(channel, opts.rng) : s.distribution(channel),
    );
    const copies = await this.withSessions((sessions) => {
      const out = new Map<string, Uint8Array>();
      for (const r of recipients) out.set(toHex(uuidBytes(r)), sessions.encrypt(r, distribution));
      return out;
    });
    return { chainId: parseDistribution(distribution).chainId, copies };
  }

  /**
   * A distribution fetched for `channel` from `sender`: the DM envelope is decrypted, the
   * 89 bytes checked and the chain stored, all before this resolves (then acknowledge).
   */
  async receiveDistribution(channel: Id, sender: Id, envelope: Uint8Array, options: DecryptOptions = {}): Promise<boolean> {
    const distribution = await this.decryptDm(sender, envelope, options);
    return this.processDistribution(channel, sender, distribution);
  }
}
