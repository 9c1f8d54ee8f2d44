export { E2EVault, type IdentityStatus, type UploadKeys } from './vault';
export { IndexedDbBlobStore, MemoryBlobStore, type BlobStore } from './storage';
export { defaultLocks, LocalLocks, WebLocks, type Locks } from './locks';
