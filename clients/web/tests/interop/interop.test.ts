/**
 * Cross-implementation check: the Python library (clients/crypto, chatalot_crypto) and this one talk to
 * each other, both ways, for DMs (X3DH + Double Ratchet, out of order) and sender keys
 * (distribution carried in a pairwise session), and read each other's state blobs.
 */

import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/lib/crypto/bytes';
import { safetyNumber } from '../../src/lib/crypto/fingerprints';
import { IdentityKeyPair, LocalKeys, type PrekeyBundle } from '../../src/lib/crypto/keys';
import { SenderKeyStore } from '../../src/lib/crypto/senderKeys';
import { SessionStore } from '../../src/lib/crypto/sessions';
import { runPython } from './python';

const PY_USER = '0000000000004000800000000000a11c'; // the Python peer ("alice")
const TS_USER = '00000000000040008000000000000b0b'; // the TypeScript peer ("bob")
const CHANNEL = '11111111111141118111111111111111';
const hexText = (s: string) => toHex(new TextEncoder().encode(s));
const text = (h: unknown) => new TextDecoder().decode(fromHex(h as string));

function bundleJson(b: PrekeyBundle) {
  return {
    identity_key: toHex(b.identityKey),
    signed_prekey_id: b.signedPrekeyId,
    signed_prekey: toHex(b.signedPrekey),
    signed_prekey_signature: toHex(b.signedPrekeySignature),
    one_time_prekey_id: b.oneTimePrekeyId,
    one_time_prekey: b.oneTimePrekey === null ? null : toHex(b.oneTimePrekey),
  };
}

function bundleFromJson(b: Record<string, unknown>): PrekeyBundle {
  return {
    identityKey: fromHex(b.identity_key as string),
    signedPrekeyId: b.signed_prekey_id as number,
    signedPrekey: fromHex(b.signed_prekey as string),
    signedPrekeySignature: fromHex(b.signed_prekey_signature as string),
    oneTimePrekeyId: b.one_time_prekey_id as number | null,
    oneTimePrekey: b.one_time_prekey === null ? null : fromHex(b.one_time_prekey as string),
  };
}

describe('Python <-> TypeScript', () => {
  it('Python initiates, TypeScript responds: DMs both ways, out of order', () => {
    const tsKeys = new LocalKeys(IdentityKeyPair.generate());
    tsKeys.addSignedPrekey(1);
    tsKeys.addOneTimePrekeys(100, 2);
    const ts = new SessionStore(tsKeys);
    const pyKeys = new LocalKeys(IdentityKeyPair.generate());

    // Python: X3DH with the TypeScript bundle, three prekey messages.
    let py = runPython({ keys: new TextDecoder().decode(pyKeys.toBytes()) }, [
      { op: 'initiate', peer: TS_USER, bundle: bundleJson(tsKeys.bundle(1, 100)) },
      ...[0, 1, 2].map((i) => ({ op: 'encrypt', peer: TS_USER, plaintext: hexText(`py ${i}`) })),
    ]);
    const [, e0, e1, e2] = py.results as string[];
    expect(text(toHex(ts.decrypt(PY_USER, fromHex(e2))))).toBe('py 2');
    expect(text(toHex(ts.decrypt(PY_USER, fromHex(e0))))).toBe('py 0');
    expect(tsKeys.oneTimePrekeys.has(100)).toBe(false);
    expect(text(toHex(ts.decrypt(PY_USER, fromHex(e1))))).toBe('py 1');

    // TypeScript replies (a DH ratchet step on the Python side), out of order too.
    const replies = [0, 1, 2].map((i) => toHex(ts.encrypt(PY_USER, new TextEncoder().encode(`ts ${i}`))));
    py = runPython({ dm_store: py.dm_store }, [
      { op: 'decrypt', peer: TS_USER, envelope: replies[1] },
      { op: 'decrypt', peer: TS_USER, envelope: replies[0] },
      { op: 'decrypt', peer: TS_USER, envelope: replies[0] }, // duplicate: refused
      { op: 'decrypt', peer: TS_USER, envelope: replies[2] },
      { op: 'encrypt', peer: TS_USER, plaintext: hexText('py after reply') },
    ]);
    expect(py.results.slice(0, 4).map((r) => (typeof r === 'string' ? text(r) : r))).toEqual([
      'ts 1', 'ts 0', { error: 'DuplicateMessage' }, 'ts 2',
    ]);
    const after = py.results[4] as string;
    expect(after.slice(0, 4)).toBe('0102'); // an ordinary message once a reply arrived
    expect(text(toHex(ts.decrypt(PY_USER, fromHex(after))))).toBe('py after reply');

    // Tampering is refused by TypeScript as by Python.
    const tampered = fromHex(py.results[4] as string);
    tampered[tampered.length - 1] ^= 1;
    expect(() => ts.decrypt(PY_USER, tampered)).toThrow();

    // Each side reads the other's state: TypeScript continues as Python, Python as TypeScript.
    const pyAsTs = SessionStore.fromBytes(new TextEncoder().encode(py.dm_store!));
    expect(new TextDecoder().decode(pyAsTs.toBytes())).toBe(py.dm_store);
    const fromRestored = toHex(pyAsTs.encrypt(TS_USER, new TextEncoder().encode('restored in ts')));
    expect(text(toHex(ts.decrypt(PY_USER, fromHex(fromRestored))))).toBe('restored in ts');
    const tsBlob = new TextDecoder().decode(ts.toBytes());
    const tsAsPy = runPython({ dm_store: tsBlob }, [
      { op: 'encrypt', peer: PY_USER, plaintext: hexText('restored in python') },
    ]);
    expect(text(toHex(pyAsTs.decrypt(TS_USER, fromHex(tsAsPy.results[0] as string))))).toBe('restored in python');
  });

  it('TypeScript initiates with a Python bundle; safety numbers agree', () => {
    let py = runPython({}, [{ op: 'generate_keys' }]);
    const generated = py.results[0] as { keys: string; bundle: Record<string, unknown> };
    const ts = new SessionStore(new LocalKeys(IdentityKeyPair.generate()));
    ts.initiate(PY_USER, bundleFromJson(generated.bundle));
    const first = toHex(ts.encrypt(PY_USER, new TextEncoder().encode('ts first')));
    const second = toHex(ts.encrypt(PY_USER, new TextEncoder().encode('ts second')));
    py = runPython({ dm_store: py.dm_store }, [
      { op: 'decrypt', peer: TS_USER, envelope: second },
      { op: 'decrypt', peer: TS_USER, envelope: first },
      { op: 'encrypt', peer: TS_USER, plaintext: hexText('py reply') },
      {
        op: 'safety_number',
        a_key: toHex(ts.keys.identity.publicKey), a_user: TS_USER,
        b_key: generated.bundle.identity_key, b_user: PY_USER,
      },
    ]);
    expect(py.results.slice(0, 2).map(text)).toEqual(['ts second', 'ts first']);
    expect(text(toHex(ts.decrypt(PY_USER, fromHex(py.results[2] as string))))).toBe('py reply');
    const ours = safetyNumber(
      fromHex(generated.bundle.identity_key as string), PY_USER, ts.keys.identity.publicKey, TS_USER,
    );
    expect(py.results[3]).toBe(ours);
  });

  it('sender keys both ways, the distribution carried in a pairwise session', () => {
    // A pairwise session first (Python initiates), then each side's chain travels in it.
    const tsKeys = new LocalKeys(IdentityKeyPair.generate());
    tsKeys.addSignedPrekey(1);
    const ts = new SessionStore(tsKeys);
    const tsGroup = new SenderKeyStore(TS_USER);
    let py = runPython({ keys: new TextDecoder().decode(new LocalKeys(IdentityKeyPair.generate()).toBytes()), user_id: PY_USER }, [
      { op: 'initiate', peer: TS_USER, bundle: bundleJson(tsKeys.bundle(1)) },
      { op: 'start_chain', channel: CHANNEL },
    ]);
    const pyDist = py.results[1] as string;
    py = runPython({ dm_store: py.dm_store, sender_store: py.sender_store }, [
      { op: 'encrypt', peer: TS_USER, plaintext: pyDist },
      ...[0, 1, 2, 3].map((i) => ({ op: 'group_encrypt', channel: CHANNEL, plaintext: hexText(`py group ${i}`) })),
    ]);
    const [wrapped, g0, g1, g2, g3] = py.results as string[];
    const dist = ts.decrypt(PY_USER, fromHex(wrapped));
    expect(toHex(dist)).toBe(pyDist);
    expect(tsGroup.processDistribution(CHANNEL, PY_USER, dist)).toBe(true);
    expect([g3, g1, g0].map((g) => text(toHex(tsGroup.decrypt(CHANNEL, PY_USER, fromHex(g)))))).toEqual([
      'py group 3', 'py group 1', 'py group 0',
    ]);
    expect(() => tsGroup.decrypt(CHANNEL, PY_USER, fromHex(g3))).toThrow(/already used/);
    expect(text(toHex(tsGroup.decrypt(CHANNEL, PY_USER, fromHex(g2))))).toBe('py group 2');

    // TypeScript's chain to Python.
    const tsDist = tsGroup.startChain(CHANNEL);
    const wrappedTs = toHex(ts.encrypt(PY_USER, tsDist));
    const messages = [0, 1, 2].map((i) => toHex(tsGroup.encrypt(CHANNEL, new TextEncoder().encode(`ts group ${i}`))));
    const bad = fromHex(messages[0]);
    bad[20] ^= 0x10;
    py = runPython({ dm_store: py.dm_store, sender_store: py.sender_store }, [
      { op: 'decrypt', peer: TS_USER, envelope: wrappedTs },
      { op: 'group_decrypt', channel: CHANNEL, sender: TS_USER, envelope: messages[0] }, // before distribution
    ]);
    expect(py.results[0]).toBe(toHex(tsDist));
    expect(py.results[1]).toEqual({ error: 'UnknownSenderChain' });
    py = runPython({ dm_store: py.dm_store, sender_store: py.sender_store }, [
      { op: 'process_distribution', channel: CHANNEL, sender: TS_USER, distribution: toHex(tsDist) },
      { op: 'group_decrypt', channel: CHANNEL, sender: TS_USER, envelope: toHex(bad) },
      { op: 'group_decrypt', channel: CHANNEL, sender: TS_USER, envelope: messages[2] },
      { op: 'group_decrypt', channel: CHANNEL, sender: TS_USER, envelope: messages[0] },
      { op: 'group_decrypt', channel: CHANNEL, sender: TS_USER, envelope: messages[1] },
    ]);
    expect(py.results[0]).toBe(true);
    expect(py.results[1]).toEqual({ error: 'InvalidSignature' });
    expect(py.results.slice(2).map(text)).toEqual(['ts group 2', 'ts group 0', 'ts group 1']);

    // The Python receiver's state, read by TypeScript, holds the same chains.
    const restored = SenderKeyStore.fromBytes(new TextEncoder().encode(py.sender_store!));
    expect(new TextDecoder().decode(restored.toBytes())).toBe(py.sender_store);
    expect(restored.receivingChains(CHANNEL, TS_USER)[0].iteration).toBe(3);
  });
});
