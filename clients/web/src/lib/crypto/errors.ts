/**
 * Typed errors of the E2E library, one class per Python class of chatalot/crypto/errors.py
 * (same names, same hierarchy): the vectors name the error a step must raise.
 * Messages are fixed strings: an error never carries key material, plaintext or state.
 */

export class CryptoError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A public key fails the point checks (strict decoding, order, small order). */
export class InvalidKey extends CryptoError {}
/** A prekey id outside 0..0xFFFFFFFE (0xFFFFFFFF means "no one-time prekey"). */
export class InvalidKeyId extends InvalidKey {}
/** An Ed25519 signature fails strict verification. */
export class InvalidSignature extends CryptoError {}
/** A message cannot be decrypted; the state that was tried is unchanged. */
export class DecryptError extends CryptoError {}
/** Envelope or distribution bytes are malformed (version, type or length). */
export class InvalidEnvelope extends DecryptError {}
/** The message key was already used (or discarded): message keys are single-use. */
export class DuplicateMessage extends DecryptError {}
/** The message is further ahead of its chain than the skip bound allows. */
export class TooManySkipped extends DecryptError {}
/** A prekey envelope names a signed or one-time prekey this client does not hold. */
export class UnknownPrekey extends DecryptError {}
/** A prekey envelope would re-create a session from an already used ephemeral key. */
export class PrekeyReplay extends DecryptError {}
/** A group message names a chain this client holds no distribution for. */
export class UnknownSenderChain extends DecryptError {}
/** There is no session with this peer (or channel) to encrypt or decrypt with. */
export class NoSession extends CryptoError {}
/** A sender-key distribution names another channel than the one it was fetched for. */
export class WrongChannel extends CryptoError {}
/** A counter would overflow u32: the caller must start a new session or chain. */
export class ChainExhausted extends CryptoError {}
/** Serialized state is corrupted, truncated, or of an unknown format or version. */
export class StateError extends CryptoError {}
/**
 * A prekey envelope's IK_A is not the identity key the client knows (pinned) for the
 * sender the server names: refused before X3DH runs (crypto.md "Sessions"). The Python
 * library leaves this check to its caller; here it is an option of SessionStore.decrypt.
 */
export class IdentityMismatch extends DecryptError {}
