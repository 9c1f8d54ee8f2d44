/**
 * Versioned, checksummed JSON for persisted state, byte for byte the Python library's
 * (chatalot/crypto/serialization.py): canonical JSON (sorted keys, no whitespace, ASCII
 * with \uXXXX escapes) of an object with "format", "version", the fields (bytes as
 * standard base64) and "check": the first 8 bytes, in hex, of SHA-256 over the canonical
 * JSON without "check". The checksum turns storage corruption into a StateError at load
 * time; it is not a MAC.
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { b64decode, b64encode, toHex } from './bytes';
import { StateError } from './errors';

export const FORMAT_VERSION = 1;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export const b64 = b64encode;

function quote(text: string): string {
  // JSON.stringify escapes '"', '\\' and controls as Python does; Python's ensure_ascii
  // also escapes DEL and everything above it, with lowercase hex.
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

/** Python's json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True). */
export function canonicalJson(value: Json): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new StateError('state numbers are integers');
    return String(value);
  }
  if (typeof value === 'string') return quote(value);
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  const keys = Object.keys(value).sort();
  return '{' + keys.map((k) => quote(k) + ':' + canonicalJson(value[k] as Json)).join(',') + '}';
}

function checksum(obj: { [key: string]: Json }): string {
  return toHex(sha256(new TextEncoder().encode(canonicalJson(obj)))).slice(0, 16);
}

export function dump(kind: string, body: { [key: string]: Json }): Uint8Array {
  const obj: { [key: string]: Json } = { ...body, format: kind, version: FORMAT_VERSION };
  obj.check = checksum(obj);
  return new TextEncoder().encode(canonicalJson(obj));
}

/** Parse and check a blob written by dump(kind, ...) (here or by the Python library). */
export function load(kind: string, blob: Uint8Array): Reader {
  if (!(blob instanceof Uint8Array)) throw new StateError('state must be bytes');
  let obj: unknown;
  try {
    if (blob.some((b) => b > 0x7f)) throw new Error('not ASCII');
    obj = JSON.parse(new TextDecoder().decode(blob));
  } catch {
    throw new StateError('state is not valid JSON');
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new StateError('state is not a JSON object');
  }
  const record = { ...(obj as { [key: string]: Json }) };
  const check = record.check;
  delete record.check;
  if (record.format !== kind) throw new StateError(`state is not of format ${kind}`);
  if (record.version !== FORMAT_VERSION) throw new StateError('unknown state version');
  if (typeof check !== 'string' || check !== checksum(record)) {
    throw new StateError('state checksum mismatch (corrupted)');
  }
  return new Reader(record, kind);
}

/** Typed access to a decoded state object: every malformed field is a StateError. */
export class Reader {
  constructor(
    private readonly obj: { [key: string]: Json },
    private readonly where: string,
  ) {}

  private get(name: string): Json {
    if (!Object.prototype.hasOwnProperty.call(this.obj, name)) {
      throw new StateError(`${this.where}: missing field ${name}`);
    }
    return this.obj[name] as Json;
  }

  private bad(name: string): StateError {
    return new StateError(`${this.where}: malformed field ${name}`);
  }

  bytes(name: string, length?: number): Uint8Array {
    return this.decodeB64(this.get(name), name, length);
  }

  optBytes(name: string, length?: number): Uint8Array | null {
    const value = this.get(name);
    return value === null ? null : this.decodeB64(value, name, length);
  }

  decodeB64(value: Json, name: string, length?: number): Uint8Array {
    if (typeof value !== 'string') throw this.bad(name);
    let data: Uint8Array;
    try {
      data = b64decode(value);
    } catch {
      throw this.bad(name);
    }
    if (length !== undefined && data.length !== length) throw this.bad(name);
    return data;
  }

  int(name: string, lo: number, hi: number): number {
    return this.intValue(this.get(name), name, lo, hi);
  }

  optInt(name: string, lo: number, hi: number): number | null {
    return this.get(name) === null ? null : this.int(name, lo, hi);
  }

  bool(name: string): boolean {
    const value = this.get(name);
    if (typeof value !== 'boolean') throw this.bad(name);
    return value;
  }

  list(name: string, maxLen?: number): Json[] {
    const value = this.get(name);
    if (!Array.isArray(value) || (maxLen !== undefined && value.length > maxLen)) throw this.bad(name);
    return value;
  }

  obj_(name: string): Reader {
    return this.wrap(this.get(name), name);
  }

  wrap(value: Json, name: string): Reader {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw this.bad(name);
    return new Reader(value, `${this.where}.${name}`);
  }

  intValue(value: Json, name: string, lo: number, hi: number): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < lo || value > hi) {
      throw this.bad(name);
    }
    return value;
  }
}
