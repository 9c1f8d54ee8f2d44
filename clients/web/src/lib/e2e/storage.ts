/**
 * Where the browser keeps its E2E state: a tiny key-value interface over IndexedDB (one
 * database, one object store of byte blobs), and an in-memory version for tests. Blobs
 * are the library's versioned, checksummed serializations, so a corrupted record is a
 * StateError at load time, never a silently wrong key.
 */

export interface BlobStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  /** Several writes, all or none (one IndexedDB transaction). */
  putMany(entries: [string, Uint8Array][]): Promise<void>;
  delete(key: string): Promise<void>;
}

const OBJECT_STORE = 'state';

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    tx.onerror = () => reject(tx.error);
  });
}

/** BlobStore over IndexedDB; a put resolves only once its transaction has committed. */
export class IndexedDbBlobStore implements BlobStore {
  private constructor(private readonly db: IDBDatabase) {}

  static async open(name = 'chatalot-e2e', factory: IDBFactory = globalThis.indexedDB): Promise<IndexedDbBlobStore> {
    const req = factory.open(name, 1);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(OBJECT_STORE)) req.result.createObjectStore(OBJECT_STORE);
    };
    return new IndexedDbBlobStore(await request(req));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const tx = this.db.transaction(OBJECT_STORE, 'readonly');
    const value = await request(tx.objectStore(OBJECT_STORE).get(key));
    if (value === undefined) return undefined;
    if (!(value instanceof Uint8Array)) return new Uint8Array(value as ArrayBuffer);
    return value;
  }

  put(key: string, value: Uint8Array): Promise<void> {
    return this.putMany([[key, value]]);
  }

  async putMany(entries: [string, Uint8Array][]): Promise<void> {
    // 'strict' durability: the write is flushed before the transaction completes, so a
    // state persisted before a message leaves survives a crash right after.
    const tx = this.db.transaction(OBJECT_STORE, 'readwrite', { durability: 'strict' });
    const store = tx.objectStore(OBJECT_STORE);
    for (const [key, value] of entries) store.put(value.slice(), key);
    await done(tx);
  }

  async delete(key: string): Promise<void> {
    const tx = this.db.transaction(OBJECT_STORE, 'readwrite');
    tx.objectStore(OBJECT_STORE).delete(key);
    await done(tx);
  }

  close(): void {
    this.db.close();
  }
}

/** BlobStore in memory (tests, and a fallback where IndexedDB is unavailable). */
export class MemoryBlobStore implements BlobStore {
  readonly data = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.data.get(key)?.slice();
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.data.set(key, value.slice());
  }

  async putMany(entries: [string, Uint8Array][]): Promise<void> {
    for (const [key, value] of entries) this.data.set(key, value.slice());
  }

  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
}
