/** Chatalot's end-to-end encryption for the browser: crypto.md in TypeScript on noble. */
export * from './errors';
export { fromHex, toHex, b64encode, b64decode } from './bytes';
export { verify as verifySignature, isValidPoint } from './ed25519';
export * from './envelopes';
export * from './fingerprints';
export {
  IdentityKeyPair, LocalKeys, NO_ONE_TIME_PREKEY, OneTimePrekey, SignedPrekey, validateBundle,
  validateIdentityKey, validateKeyId, validateX25519Public, verifySignedPrekey, type PrekeyBundle,
} from './keys';
export { randomBytes, type Random } from './primitives';
export { RatchetState, MAX_SKIP, MAX_SKIPPED_KEYS } from './ratchet';
export { SenderChain, SenderKeyStore, ReceiverChain } from './senderKeys';
export { Session, SessionStore, type DecryptOptions } from './sessions';
