/**
 * Attachments (protocol.md "Files"): a plaintext file is uploaded as is (the server checks
 * and re-encodes images); in an E2E conversation the browser encrypts it first with a
 * fresh AES-256-GCM key, uploads the opaque blob (`encrypted=true`) and puts the key,
 * nonce and plaintext hash in the message, which is itself end-to-end encrypted. The
 * message body is JSON `{file_id, filename, size, content_type, key?, nonce?, sha256?}`.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { b64decode, b64encode, toHex } from '../crypto';
import type { Api } from './api';

export interface FileBody {
  file_id: string;
  filename: string;
  size: number;
  content_type: string;
  key?: string;
  nonce?: string;
  sha256?: string;
}

export const MAX_IMAGE_BYTES = 25 * 1024 * 1024;

export async function uploadFile(api: Api, channelId: string, file: File, encrypted: boolean): Promise<FileBody> {
  const plain = new Uint8Array(await file.arrayBuffer());
  const form = new FormData();
  form.append('channel_id', channelId);
  form.append('encrypted', encrypted ? 'true' : 'false');
  const body: Omit<FileBody, 'file_id'> = { filename: file.name || 'file', size: plain.length, content_type: file.type || 'application/octet-stream' };
  if (encrypted) {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const sealed = gcm(key, nonce).encrypt(plain);
    form.append('file', new Blob([sealed as BlobPart]), 'encrypted.bin');
    Object.assign(body, { key: b64encode(key), nonce: b64encode(nonce), sha256: toHex(sha256(plain)) });
  } else {
    form.append('file', file, body.filename);
  }
  const meta = await api.request<{ id: string; content_type: string }>('POST', '/files/upload', form);
  return { file_id: meta.id, ...body, content_type: encrypted ? body.content_type : meta.content_type };
}

/** Parse a file message's text (null when it is not one). */
export function parseFileBody(text: string | null): FileBody | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text) as FileBody;
    return typeof v.file_id === 'string' && typeof v.filename === 'string' ? v : null;
  } catch {
    return null;
  }
}

const urls = new Map<string, Promise<string>>();

/** An object URL for the file's bytes (decrypted and checked when the body has a key). */
export function fileUrl(api: Api, body: FileBody): Promise<string> {
  let url = urls.get(body.file_id);
  if (!url) {
    url = (async () => {
      const res = await fetch(`/api/files/${body.file_id}`, { headers: { Authorization: `Bearer ${api.tokens?.access_token ?? ''}` } });
      if (!res.ok) throw new Error(res.status === 404 ? 'the file was removed' : `download failed (${res.status})`);
      let bytes = new Uint8Array(await res.arrayBuffer());
      if (body.key && body.nonce) {
        bytes = gcm(b64decode(body.key), b64decode(body.nonce)).decrypt(bytes);
        if (body.sha256 && toHex(sha256(bytes)) !== body.sha256) throw new Error('the file does not match its hash');
      }
      return URL.createObjectURL(new Blob([bytes as BlobPart], { type: body.content_type }));
    })();
    url.catch(() => urls.delete(body.file_id));
    urls.set(body.file_id, url);
  }
  return url;
}

export const isImage = (body: FileBody) => /^image\/(png|jpeg|gif|webp)$/.test(body.content_type);
