/**
 * The app's E2E: the vault (src/lib/e2e) for DMs, with the REST calls it needs (bundles)
 * and the UI's vocabulary (a key change to show, a message that cannot be decrypted).
 * Keys are made before the account exists (registration uploads them), under a pending
 * id, and moved to the user's id once the server has answered.
 */
import { b64decode, b64encode, formatSafetyNumber, safetyNumber, toHex, uuidBytes } from '../crypto';
import { IdentityMismatch } from '../crypto/errors';
import { E2EVault } from '../e2e/vault';
import { IndexedDbBlobStore, MemoryBlobStore, type BlobStore } from '../e2e/storage';
import {
  bundleFromJson,
  envelopeFromBase64,
  keyUploadJson,
  senderKeyUploadJson,
  type KeyBundleJson,
  type KeyUploadJson,
  type StoredSenderKeyJson,
} from '../e2e/wire';
import type { Api } from './api';

const enc = new TextEncoder();
const dec = new TextDecoder();

let shared: Promise<BlobStore> | null = null;
/** The browser's blob store (IndexedDB; memory where it is unavailable). */
export function blobStore(): Promise<BlobStore> {
  shared ??= typeof indexedDB === 'undefined' ? Promise.resolve(new MemoryBlobStore()) : IndexedDbBlobStore.open();
  return shared;
}

/** New keys under a pending id, for registration (or a key reset). */
export async function prepareKeys(store: BlobStore): Promise<{ pendingId: string; upload: KeyUploadJson }> {
  const pendingId = crypto.randomUUID();
  const vault = new E2EVault(store, pendingId);
  const keys = await vault.createKeys({ replace: true });
  return { pendingId, upload: keyUploadJson(keys) };
}

/** Move the keys made under pendingId to the account's id (after registration). */
export async function adoptKeys(store: BlobStore, pendingId: string, userId: string): Promise<void> {
  const from = `dm:${toHex(uuidBytes(pendingId))}`;
  const blob = await store.get(from);
  if (blob === undefined) throw new Error('the new keys are missing');
  await store.put(`dm:${toHex(uuidBytes(userId))}`, blob);
  await store.delete(from);
}

/** A peer whose identity key differs from the one pinned: the user must confirm it. */
export class KeyChanged extends Error {
  constructor(
    readonly peer: string,
    readonly newKey: Uint8Array,
  ) {
    super('the identity key of this contact changed');
  }
}

export class Secure {
  readonly vault: E2EVault;

  constructor(
    store: BlobStore,
    readonly userId: string,
    private readonly api: Api,
  ) {
    this.vault = new E2EVault(store, userId);
  }

  hasKeys(): Promise<boolean> {
    return this.vault.hasKeys();
  }

  /** A browser without keys for this account registers new ones (password-confirmed). */
  async resetKeys(password: string, store: BlobStore): Promise<void> {
    const { pendingId, upload } = await prepareKeys(store);
    await this.api.put('/keys/identity', { ...upload, password });
    await adoptKeys(store, pendingId, this.userId);
  }

  private async bundle(peer: string): Promise<KeyBundleJson> {
    return this.api.get<KeyBundleJson>(`/keys/${peer}/bundle`);
  }

  /** A pairwise session with peer, from their bundle when there is none yet. */
  private async ensureSession(peer: string): Promise<void> {
    if (await this.vault.hasSession(peer)) return;
    const bundle = bundleFromJson(await this.bundle(peer));
    try {
      await this.vault.initiate(peer, bundle);
    } catch (e) {
      if (e instanceof IdentityMismatch) throw new KeyChanged(peer, bundle.identityKey);
      throw e;
    }
  }

  /** The DM ciphertext (base64 envelope) of text for peer; starts a session when needed. */
  async encryptDm(peer: string, text: string): Promise<string> {
    await this.ensureSession(peer);
    return b64encode(await this.vault.encryptDm(peer, enc.encode(text)));
  }

  /**
   * A group channel's ciphertext (sender keys). My chain is distributed first, wrapped in
   * the pairwise session of every other member, when someone has not had it. Who had it is
   * kept in the vault, so after a reload (or a removal this page never heard of) a member
   * gone since the last distribution makes a new chain, given to those who remain only; so
   * does a chain whose recipients are unknown. Returns the envelope and the chain id.
   */
  async encryptGroup(channel: string, members: string[], text: string): Promise<{ ciphertext: string; chainId: number }> {
    const others = members.filter((m) => m !== this.userId);
    const current = await this.vault.sendingChainId(channel);
    const sent = await this.vault.distributedTo(channel);
    let chainId = current;
    const stale = current !== null && (sent === null || sent.chainId !== current);
    const removed = sent !== null && sent.members.some((m) => !others.includes(m));
    if (current === null || stale || removed || others.some((m) => !sent!.members.includes(m))) {
      for (const m of others) await this.ensureSession(m);
      const wrapped = await this.vault.wrapDistribution(channel, others, { rotate: stale || removed });
      if (others.length) await this.api.post(`/channels/${channel}/sender-keys`, senderKeyUploadJson(wrapped));
      await this.vault.recordDistributed(channel, wrapped.chainId, others);
      chainId = wrapped.chainId;
    }
    const envelope = await this.vault.encryptGroup(channel, enc.encode(text));
    return { ciphertext: b64encode(envelope), chainId: chainId! };
  }

  /**
   * A member left or was removed (sender_key_rotation_required): my chain in the channel is
   * replaced in the vault before this resolves (the frame counts as handled only then);
   * the next message distributes the new chain to those who remain.
   */
  rotate(channel: string): Promise<void> {
    return this.vault.rotateSenderKey(channel);
  }

  /** A distribution addressed to me (sender_key_updated, or fetched): stored before use. */
  async receiveDistribution(channel: string, sender: string, envelope: string): Promise<void> {
    try {
      await this.vault.receiveDistribution(channel, sender, envelopeFromBase64(envelope));
    } catch {
      /* already held (a replay), or not for this browser's keys: the message will say so */
    }
  }

  /** A group message's text: mine from the kept plaintexts; others' with their chain, fetched when missing. */
  async openGroup(channel: string, sender: string, ciphertext: string): Promise<string> {
    const envelope = envelopeFromBase64(ciphertext);
    if (sender === this.userId) {
      const kept = await this.vault.groupPlaintext(channel, sender, envelope);
      if (kept === undefined) throw new Error('sent from another device');
      return dec.decode(kept);
    }
    try {
      return dec.decode(await this.vault.decryptGroup(channel, sender, envelope));
    } catch {
      const copies = await this.api.get<StoredSenderKeyJson[]>(`/channels/${channel}/sender-keys`);
      for (const c of copies) if (c.sender_id === sender) await this.receiveDistribution(channel, sender, c.envelope);
      return dec.decode(await this.vault.decryptGroup(channel, sender, envelope));
    }
  }

  /**
   * Accept the peer's current key (after the user saw the warning): pin it and start a new
   * session from their current bundle, so the next message goes to the new key.
   */
  async acceptKey(peer: string): Promise<void> {
    const bundle = bundleFromJson(await this.bundle(peer));
    await this.vault.acceptIdentity(peer, bundle.identityKey);
    await this.vault.initiate(peer, bundle);
  }

  /** Refresh the session from the peer's current bundle (after identity_key_changed). */
  async checkPeer(peer: string): Promise<'same' | 'new' | 'changed'> {
    const bundle = bundleFromJson(await this.bundle(peer));
    return this.vault.checkIdentity(peer, bundle.identityKey);
  }

  /**
   * A DM's text: my own from the plaintexts kept when it was sent, a peer's decrypted
   * (the vault keeps it, so history fetched again decrypts the same).
   */
  async openDm(peer: string, sender: string, ciphertext: string): Promise<string> {
    const envelope = envelopeFromBase64(ciphertext);
    if (sender === this.userId) {
      const kept = await this.vault.dmPlaintext(peer, envelope);
      if (kept === undefined) throw new Error('sent from another device');
      return dec.decode(kept);
    }
    try {
      return dec.decode(await this.vault.decryptDm(sender, envelope));
    } catch (e) {
      if (e instanceof IdentityMismatch) throw new KeyChanged(sender, new Uint8Array());
      throw e;
    }
  }

  /** The safety number shared with peer (null before their key is known here). */
  async safetyNumber(peer: string): Promise<string | null> {
    let theirs = await this.vault.pinnedIdentity(peer);
    if (theirs === null) {
      await this.checkPeer(peer);
      theirs = await this.vault.pinnedIdentity(peer);
    }
    if (theirs === null) return null;
    const mine = await this.vault.identityKey();
    return formatSafetyNumber(safetyNumber(mine, this.userId, theirs, peer));
  }
}

export const utf8ToBase64 = (text: string) => b64encode(enc.encode(text));
export const base64ToUtf8 = (text: string) => dec.decode(b64decode(text));
