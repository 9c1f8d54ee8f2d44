/**
 * The JSON the browser sends and reads on the key routes, checked by the server's own code:
 * bodies decoded with chatalot's msgspec contracts and run through its upload checks
 * (chatalot/domain/keys/rules.py), and a bundle reply encoded by the server's KeyBundle
 * read here and used for X3DH with a Python peer. Needs the project's .venv.
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/lib/crypto/bytes';
import { IdentityKeyPair, LocalKeys } from '../../src/lib/crypto/keys';
import { SessionStore } from '../../src/lib/crypto/sessions';
import { LocalLocks } from '../../src/lib/e2e/locks';
import { MemoryBlobStore } from '../../src/lib/e2e/storage';
import { E2EVault } from '../../src/lib/e2e/vault';
import {
  bundleFromJson,
  keyUploadJson,
  senderKeyUploadJson,
  uuidString,
  type KeyBundleJson,
} from '../../src/lib/e2e/wire';
import { errorName } from '../helpers';
import { runPython } from './python';

const ME = '0190f5c2-0000-7000-8000-00000000a11c';
const PEER = '0190f5c2-0000-7000-8000-000000000b0b';
const CHANNEL = '0190f5c2-0000-7000-8000-0000000000c1';

describe('key routes', () => {
  it('a registration body generated here passes the server decoding and checks', async () => {
    const vault = new E2EVault(new MemoryBlobStore(), ME, new LocalLocks());
    const upload = await vault.createKeys({ oneTimePrekeys: 100 });
    const body = { username: 'alice_web', password: 'correct horse battery staple', ...keyUploadJson(upload) };
    const tampered = structuredClone(body);
    tampered.signed_prekey.signature = body.signed_prekey.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    const py = runPython({}, [
      { op: 'check_register', json: JSON.stringify(body) },
      { op: 'check_register', json: JSON.stringify(tampered) },
    ]);
    expect(py.results[0]).toBe(toHex(sha256(upload.identityKey)));
    expect(py.results[1]).toMatchObject({ error: 'DomainError', detail: expect.stringMatching(/signature/) });
  });

  it('a bundle reply encoded by the server starts a session with its owner', async () => {
    let py = runPython({}, [{ op: 'bundle_reply', user_id: PEER }]);
    const { reply } = py.results[0] as { reply: string };
    const json = JSON.parse(reply) as KeyBundleJson;
    expect(json.user_id).toBe(PEER);
    const vault = new E2EVault(new MemoryBlobStore(), ME, new LocalLocks());
    await vault.createKeys({ oneTimePrekeys: 1 });
    expect(await vault.initiate(PEER, bundleFromJson(json))).toBe('new');
    const env = await vault.encryptDm(PEER, new TextEncoder().encode('via the server bundle'));
    py = runPython({ dm_store: py.dm_store }, [{ op: 'decrypt', peer: toHex(fromHex(PEER.replace(/-/g, ''))), envelope: toHex(env) }]);
    expect(new TextDecoder().decode(fromHex(py.results[0] as string))).toBe('via the server bundle');
  });

  it('a sender-key upload passes the server checks, which refuse one naming another identity', async () => {
    const me = new E2EVault(new MemoryBlobStore(), ME, new LocalLocks());
    await me.createKeys({ oneTimePrekeys: 1 });
    const peerKeys = new LocalKeys(IdentityKeyPair.generate());
    peerKeys.addSignedPrekey(1);
    await me.initiate(PEER, peerKeys.bundle(1));
    const wrapped = await me.wrapDistribution(CHANNEL, [PEER]);
    const body = senderKeyUploadJson(wrapped);
    expect(body.distributions[0].recipient_id).toBe(PEER);
    const myIdentity = toHex(await me.identityKey());
    const other = toHex(IdentityKeyPair.generate().publicKey);
    const py = runPython({}, [
      { op: 'check_sender_keys', sender: ME, sender_identity: myIdentity, json: JSON.stringify(body) },
      { op: 'check_sender_keys', sender: ME, sender_identity: other, json: JSON.stringify(body) },
    ]);
    expect(py.results[0]).toBe(1);
    expect(py.results[1]).toMatchObject({ error: 'DomainError', detail: expect.stringMatching(/another identity/) });
    // And the peer reads its copy: the 89 bytes of the chain.
    const peer = new SessionStore(peerKeys);
    const copy = wrapped.copies.get(toHex(fromHex(PEER.replace(/-/g, ''))))!;
    expect(peer.decrypt(ME, copy).length).toBe(89);
  });

  it('refuses malformed bundle replies before any X3DH', () => {
    const good: KeyBundleJson = {
      user_id: PEER,
      identity_key: 'A'.repeat(43) + '=',
      signed_prekey: { key_id: 1, public_key: 'A'.repeat(43) + '=', signature: 'A'.repeat(86) + '==' },
      one_time_prekey: null,
      position: null,
    };
    expect(errorName(() => bundleFromJson(good))).toBeNull();
    expect(errorName(() => bundleFromJson({ ...good, identity_key: 'AAAA' }))).toBe('InvalidKey');
    expect(errorName(() => bundleFromJson({ ...good, identity_key: '!'.repeat(44) }))).toBe('InvalidKey');
    const badSig = { ...good, signed_prekey: { ...good.signed_prekey, signature: 'A'.repeat(43) + '=' } };
    expect(errorName(() => bundleFromJson(badSig))).toBe('InvalidKey');
    const badId = { ...good, signed_prekey: { ...good.signed_prekey, key_id: 1.5 } };
    expect(errorName(() => bundleFromJson(badId))).toBe('InvalidKey');
    expect(uuidString('0190F5C2000070008000000000000B0B')).toBe(PEER);
  });
});
