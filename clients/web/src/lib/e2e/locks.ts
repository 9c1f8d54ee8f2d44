/**
 * Exclusive locks by name: the Web Locks API (navigator.locks) serializes a session's use
 * across tabs and workers of one origin; where it is missing (Node, old browsers) an
 * in-process FIFO lock gives the same guarantee inside one JavaScript realm.
 */

export interface Locks {
  /** Run fn holding the exclusive lock `name`; resolves with fn's result. */
  run<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

interface WebLockManager {
  request<T>(name: string, options: { mode: 'exclusive' }, fn: () => Promise<T>): Promise<T>;
}

/** navigator.locks (Web Locks API). */
export class WebLocks implements Locks {
  constructor(private readonly manager: WebLockManager) {}

  run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.manager.request(name, { mode: 'exclusive' }, fn);
  }
}

/** A FIFO mutex per name, inside one realm. */
export class LocalLocks implements Locks {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(name, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(name) === tail) this.tails.delete(name);
    }
  }
}

/** The platform's Web Locks when present, else in-process locks. */
export function defaultLocks(): Locks {
  const nav = (globalThis as { navigator?: { locks?: WebLockManager } }).navigator;
  return nav?.locks ? new WebLocks(nav.locks) : new LocalLocks();
}
