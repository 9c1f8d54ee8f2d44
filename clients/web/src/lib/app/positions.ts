/**
 * The gateway's last handled position, kept per account in localStorage so that a reload
 * (or a browser restart) resumes the socket where the page stopped: the server replays
 * what came since, in order (no gap), and the timeline drops what it already holds by id
 * (no double). Saved only after a frame is handled, never when it merely arrived.
 */

const key = (userId: string) => `chatalot.position.${userId}`;

type Store = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

const storage = (): Store | null => (typeof localStorage === 'undefined' ? null : localStorage);

export function loadPosition(userId: string, store: Store | null = storage()): string | null {
  try {
    const v = store?.getItem(key(userId)) ?? null;
    return v && v.length <= 256 ? v : null;
  } catch {
    return null;
  }
}

export function savePosition(userId: string, position: string, store: Store | null = storage()): void {
  try {
    store?.setItem(key(userId), position);
  } catch {
    /* storage full or refused: the next reload starts fresh, as before */
  }
}

export function forgetPosition(userId: string, store: Store | null = storage()): void {
  try {
    store?.removeItem(key(userId));
  } catch {
    /* nothing kept */
  }
}
