/** X3DH key agreement (Signal rev. 1) with the choices of crypto.md. */

import { concat } from './bytes';
import * as ed25519 from './ed25519';
import {
  type IdentityKeyPair,
  type OneTimePrekey,
  type PrekeyBundle,
  type SignedPrekey,
  validateBundle,
  validateIdentityKey,
} from './keys';
import {
  generateX25519,
  hkdfSha256,
  INFO_X3DH,
  randomBytes,
  validateX25519Public,
  x25519,
  ZERO_SALT,
  type Random,
} from './primitives';

const F = new Uint8Array(32).fill(0xff);

/** SK = HKDF(0xFF*32 || DH1 || DH2 || DH3 [|| DH4], salt 0x00*32, info, 32). */
export function deriveSharedSecret(dhOutputs: Uint8Array[]): Uint8Array {
  return hkdfSha256(concat(F, ...dhOutputs), ZERO_SALT, INFO_X3DH, 32);
}

/** The initiator's result: SK, AD and what her prekey envelopes must carry. */
export interface X3DHInitiation {
  sharedSecret: Uint8Array;
  associatedData: Uint8Array;
  ephemeralPublic: Uint8Array;
  signedPrekeyId: number;
  signedPrekey: Uint8Array;
  oneTimePrekeyId: number | null;
}

export interface X3DHResponse {
  sharedSecret: Uint8Array;
  associatedData: Uint8Array;
}

/** Alice's side. Verifies the bundle (SPK signature, point checks) before any DH. */
export function initiate(identity: IdentityKeyPair, bundle: PrekeyBundle, rng: Random = randomBytes): X3DHInitiation {
  validateBundle(bundle);
  const [ekPrivate, ekPublic] = generateX25519(rng);
  const ikB = ed25519.toX25519Public(bundle.identityKey);
  const dh = [
    x25519(identity.x25519Private, bundle.signedPrekey),
    x25519(ekPrivate, ikB),
    x25519(ekPrivate, bundle.signedPrekey),
  ];
  if (bundle.oneTimePrekey !== null) dh.push(x25519(ekPrivate, bundle.oneTimePrekey));
  return {
    sharedSecret: deriveSharedSecret(dh),
    associatedData: concat(identity.publicKey, bundle.identityKey),
    ephemeralPublic: ekPublic,
    signedPrekeyId: bundle.signedPrekeyId,
    signedPrekey: bundle.signedPrekey,
    oneTimePrekeyId: bundle.oneTimePrekeyId,
  };
}

/** Bob's side, from the keys named in a prekey envelope. Throws InvalidKey on bad keys. */
export function respond(
  identity: IdentityKeyPair,
  signedPrekey: SignedPrekey,
  oneTimePrekey: OneTimePrekey | null,
  initiatorIdentity: Uint8Array,
  ephemeralPublic: Uint8Array,
): X3DHResponse {
  validateIdentityKey(initiatorIdentity);
  validateX25519Public(ephemeralPublic);
  const ikA = ed25519.toX25519Public(initiatorIdentity);
  const dh = [
    x25519(signedPrekey.privateKey, ikA),
    x25519(identity.x25519Private, ephemeralPublic),
    x25519(signedPrekey.privateKey, ephemeralPublic),
  ];
  if (oneTimePrekey !== null) dh.push(x25519(oneTimePrekey.privateKey, ephemeralPublic));
  return {
    sharedSecret: deriveSharedSecret(dh),
    associatedData: concat(initiatorIdentity, identity.publicKey),
  };
}
