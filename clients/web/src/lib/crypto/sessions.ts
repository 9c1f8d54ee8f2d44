/**
 * Pairwise sessions and the session-store rules of crypto.md ("Sessions").
 *
 * A Session is one X3DH + Double Ratchet conversation. The SessionStore keeps, per peer,
 * the current session and up to 4 previous ones (newest first), picks the session a
 * received envelope belongs to, and remembers the ephemeral keys of the last 1000 sessions
 * it created as responder so a replayed prekey envelope cannot re-create a session.
 * Nothing in the store changes when a decrypt throws.
 */

import { compare, concat, equal, fromHex, toHex, U32_MAX } from './bytes';
import {
  encodeDmEnvelope,
  parseDmEnvelope,
  TYPE_MESSAGE,
  TYPE_PREKEY,
  uuidBytes,
  VERSION,
  type DmEnvelope,
  type PrekeyMessage,
} from './envelopes';
import {
  CryptoError,
  DecryptError,
  DuplicateMessage,
  IdentityMismatch,
  NoSession,
  PrekeyReplay,
  StateError,
  UnknownPrekey,
} from './errors';
import { IdentityKeyPair, LocalKeys, type PrekeyBundle } from './keys';
import { randomBytes, type Random } from './primitives';
import { RatchetState } from './ratchet';
import { b64, dump, load, Reader, type Json } from './serialization';
import * as x3dh from './x3dh';

export const MAX_PREVIOUS_SESSIONS = 4;
export const REPLAY_MEMORY = 1000;

export type Id = string | Uint8Array;

export type SessionFields = Pick<
  Session,
  'associatedData' | 'baseKey' | 'initiator' | 'signedPrekeyId' | 'oneTimePrekeyId' | 'pendingPrekey' | 'ratchet'
>;

/** One pairwise session: the X3DH parameters that name it plus its ratchet state. */
export class Session {
  associatedData!: Uint8Array;
  /** EK_A: with IK_A it identifies the session. */
  baseKey!: Uint8Array;
  initiator!: boolean;
  signedPrekeyId!: number;
  oneTimePrekeyId!: number | null;
  /** The initiator still sends prekey envelopes (no reply received yet). */
  pendingPrekey!: boolean;
  ratchet!: RatchetState;

  constructor(fields: SessionFields) {
    Object.assign(this, fields);
  }

  get initiatorIdentity(): Uint8Array {
    return this.associatedData.slice(0, 32);
  }

  get remoteIdentity(): Uint8Array {
    return this.initiator ? this.associatedData.slice(32) : this.associatedData.slice(0, 32);
  }

  /** X3DH as initiator then RatchetInitAlice; the rng gives EK_A, then the first DHs. */
  static initiate(identity: IdentityKeyPair, bundle: PrekeyBundle, rng: Random = randomBytes): Session {
    const result = x3dh.initiate(identity, bundle, rng);
    return new Session({
      associatedData: result.associatedData,
      baseKey: result.ephemeralPublic,
      initiator: true,
      signedPrekeyId: result.signedPrekeyId,
      oneTimePrekeyId: result.oneTimePrekeyId,
      pendingPrekey: true,
      ratchet: RatchetState.initAlice(result.sharedSecret, result.signedPrekey, rng),
    });
  }

  /** X3DH as responder then RatchetInitBob, for the keys a prekey envelope names. */
  static respond(keys: LocalKeys, message: PrekeyMessage): Session {
    const spk = keys.signedPrekeys.get(message.signedPrekeyId);
    if (spk === undefined) throw new UnknownPrekey('unknown signed prekey');
    let opk = null;
    if (message.oneTimePrekeyId !== null) {
      opk = keys.oneTimePrekeys.get(message.oneTimePrekeyId) ?? null;
      if (opk === null) throw new UnknownPrekey('unknown or used one-time prekey');
    }
    const result = x3dh.respond(keys.identity, spk, opk, message.identityKey, message.baseKey);
    return new Session({
      associatedData: result.associatedData,
      baseKey: message.baseKey,
      initiator: false,
      signedPrekeyId: message.signedPrekeyId,
      oneTimePrekeyId: message.oneTimePrekeyId,
      pendingPrekey: false,
      ratchet: RatchetState.initBob(result.sharedSecret, spk.privateKey),
    });
  }

  /** The envelope for plaintext; the session advances (persist it before sending). */
  encrypt(plaintext: Uint8Array): Uint8Array {
    const [header, ct] = this.ratchet.encrypt(plaintext, this.associatedData);
    if (this.pendingPrekey) {
      return encodeDmEnvelope({
        type: TYPE_PREKEY,
        identityKey: this.initiatorIdentity,
        baseKey: this.baseKey,
        signedPrekeyId: this.signedPrekeyId,
        oneTimePrekeyId: this.oneTimePrekeyId,
        header,
        ciphertext: ct,
      });
    }
    return concat(Uint8Array.of(VERSION, TYPE_MESSAGE), header, ct);
  }

  /**
   * A prekey envelope belongs here: responder session with the same IK_A and EK_A, and the
   * same prekey ids (they are outside the AEAD's associated data).
   */
  matches(message: PrekeyMessage): boolean {
    return (
      !this.initiator &&
      equal(message.identityKey, this.associatedData.subarray(0, 32)) &&
      equal(message.baseKey, this.baseKey) &&
      message.signedPrekeyId === this.signedPrekeyId &&
      message.oneTimePrekeyId === this.oneTimePrekeyId
    );
  }

  decryptMessage(message: DmEnvelope, rng: Random): Uint8Array {
    const plaintext = this.ratchet.decrypt(message.header, message.ciphertext, this.associatedData, rng);
    // Any reply means the responder has the session: stop sending prekey envelopes.
    this.pendingPrekey = false;
    return plaintext;
  }

  static readonly FORMAT = 'chatalot.session';

  toObj(): { [key: string]: Json } {
    return {
      associated_data: b64(this.associatedData),
      base_key: b64(this.baseKey),
      initiator: this.initiator,
      signed_prekey_id: this.signedPrekeyId,
      one_time_prekey_id: this.oneTimePrekeyId,
      pending_prekey: this.pendingPrekey,
      ratchet: this.ratchet.toObj(),
    };
  }

  static fromObj(r: Reader): Session {
    return new Session({
      associatedData: r.bytes('associated_data', 64),
      baseKey: r.bytes('base_key', 32),
      initiator: r.bool('initiator'),
      signedPrekeyId: r.int('signed_prekey_id', 0, U32_MAX - 1),
      oneTimePrekeyId: r.optInt('one_time_prekey_id', 0, U32_MAX - 1),
      pendingPrekey: r.bool('pending_prekey'),
      ratchet: RatchetState.fromObj(r.obj_('ratchet')),
    });
  }

  toBytes(): Uint8Array {
    return dump(Session.FORMAT, this.toObj());
  }

  static fromBytes(blob: Uint8Array): Session {
    return Session.fromObj(load(Session.FORMAT, blob));
  }
}

export interface DecryptOptions {
  rng?: Random;
  /**
   * The identity key this client knows (pinned) for the sender the server names. When
   * given, a prekey envelope carrying another IK_A is refused (IdentityMismatch) before
   * X3DH runs; the caller shows the change to the user and decides.
   */
  expectedIdentity?: Uint8Array | null;
}

/** All of one client's pairwise sessions, with its own keys (one E2E device per account). */
export class SessionStore {
  static readonly FORMAT = 'chatalot.session_store';
  private peers = new Map<string, Session[]>();
  /** EK_A (hex) of created sessions, oldest first. */
  private replay = new Set<string>();

  constructor(readonly keys: LocalKeys) {}

  /** The peer's sessions, current first (a copy of the list, not of the sessions). */
  sessions(peer: Id): Session[] {
    return [...(this.peers.get(toHex(uuidBytes(peer))) ?? [])];
  }

  hasSession(peer: Id): boolean {
    return (this.peers.get(toHex(uuidBytes(peer)))?.length ?? 0) > 0;
  }

  /** The peer's identity key in the current session (show it, compare it, pin it). */
  identityKey(peer: Id): Uint8Array | null {
    const sessions = this.peers.get(toHex(uuidBytes(peer)));
    return sessions && sessions.length > 0 ? sessions[0].remoteIdentity : null;
  }

  remembersBaseKey(baseKey: Uint8Array): boolean {
    return this.replay.has(toHex(baseKey));
  }

  /** Start X3DH with a fetched bundle; the new session becomes the current one. */
  initiate(peer: Id, bundle: PrekeyBundle, rng: Random = randomBytes): Session {
    const session = Session.initiate(this.keys.identity, bundle, rng);
    this.makeCurrent(toHex(uuidBytes(peer)), session);
    return session;
  }

  encrypt(peer: Id, plaintext: Uint8Array): Uint8Array {
    const sessions = this.peers.get(toHex(uuidBytes(peer)));
    if (!sessions || sessions.length === 0) throw new NoSession('no session with this peer');
    return sessions[0].encrypt(plaintext);
  }

  /**
   * Decrypt a DM envelope from peer; nothing in the store changes when it throws a
   * CryptoError: InvalidEnvelope, InvalidKey, NoSession, or a DecryptError
   * (DuplicateMessage, TooManySkipped, UnknownPrekey, PrekeyReplay, IdentityMismatch...).
   */
  decrypt(peer: Id, envelope: Uint8Array, options: DecryptOptions | Random = {}): Uint8Array {
    const opts: DecryptOptions = typeof options === 'function' ? { rng: options } : options;
    const rng = opts.rng ?? randomBytes;
    const peerKey = toHex(uuidBytes(peer));
    const message = parseDmEnvelope(envelope);
    const sessions = this.peers.get(peerKey) ?? [];
    if (message.type === TYPE_PREKEY) {
      if (opts.expectedIdentity && !equal(opts.expectedIdentity, message.identityKey)) {
        throw new IdentityMismatch('prekey envelope from an unknown identity key');
      }
      for (const session of sessions) {
        if (session.matches(message)) {
          const plaintext = session.decryptMessage(message, rng);
          this.makeCurrent(peerKey, session);
          return plaintext;
        }
      }
      return this.newSession(peerKey, message, rng);
    }
    if (sessions.length === 0) throw new NoSession('no session with this peer');
    let firstError: CryptoError | null = null;
    let duplicate: DuplicateMessage | null = null;
    for (const session of sessions.slice(0, 1 + MAX_PREVIOUS_SESSIONS)) {
      try {
        const plaintext = session.decryptMessage(message, rng);
        this.makeCurrent(peerKey, session);
        return plaintext;
      } catch (e) {
        if (e instanceof DuplicateMessage) duplicate ??= e;
        else if (e instanceof CryptoError) firstError ??= e;
        else throw e;
      }
    }
    throw duplicate ?? firstError ?? new DecryptError('no session could decrypt');
  }

  private newSession(peerKey: string, message: PrekeyMessage, rng: Random): Uint8Array {
    const ek = toHex(message.baseKey);
    if (this.replay.has(ek)) throw new PrekeyReplay('prekey envelope replayed');
    const session = Session.respond(this.keys, message);
    const plaintext = session.decryptMessage(message, rng);
    // Commit only now: the OPK is consumed and EK_A remembered by a decrypted message.
    if (message.oneTimePrekeyId !== null) this.keys.oneTimePrekeys.delete(message.oneTimePrekeyId);
    this.replay.add(ek);
    while (this.replay.size > REPLAY_MEMORY) this.replay.delete(this.replay.values().next().value as string);
    this.makeCurrent(peerKey, session);
    return plaintext;
  }

  private makeCurrent(peerKey: string, session: Session): void {
    const sessions = (this.peers.get(peerKey) ?? []).filter((s) => s !== session);
    sessions.unshift(session);
    this.peers.set(peerKey, sessions.slice(0, 1 + MAX_PREVIOUS_SESSIONS));
  }

  // --- serialization ---------------------------------------------------------------------

  toBytes(): Uint8Array {
    const peers = [...this.peers.keys()].map(fromHex).sort(compare);
    return dump(SessionStore.FORMAT, {
      keys: this.keys.toObj(),
      peers: peers.map((p) => [b64(p), this.peers.get(toHex(p))!.map((s) => s.toObj())]),
      replay: [...this.replay].map((k) => b64(fromHex(k))),
    });
  }

  static fromBytes(blob: Uint8Array): SessionStore {
    const r = load(SessionStore.FORMAT, blob);
    const store = new SessionStore(LocalKeys.fromObj(r.obj_('keys')));
    for (const item of r.list('peers')) {
      if (!Array.isArray(item) || item.length !== 2 || !Array.isArray(item[1])) {
        throw new StateError('malformed peer entry');
      }
      const peer = r.decodeB64(item[0] as Json, 'peers', 16);
      const list = item[1] as Json[];
      if (list.length < 1 || list.length > 1 + MAX_PREVIOUS_SESSIONS) throw new StateError('malformed peer entry');
      store.peers.set(toHex(peer), list.map((s) => Session.fromObj(r.wrap(s, 'peers'))));
    }
    for (const item of r.list('replay', REPLAY_MEMORY)) {
      store.replay.add(toHex(r.decodeB64(item, 'replay', 32)));
    }
    return store;
  }
}
