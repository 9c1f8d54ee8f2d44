/**
 * The REST client: bearer tokens kept in localStorage, a silent refresh shortly before the
 * access token expires (and once on a 401), errors as ApiError with the protocol's code.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
}

const TOKENS = 'chatalot.tokens';

/** Seconds since the epoch at which a JWT expires (0 when unreadable). */
export function jwtExpiry(token: string): number {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
    return typeof claims.exp === 'number' ? claims.exp : 0;
  } catch {
    return 0;
  }
}

export class Api {
  tokens: Tokens | null;
  /** Called when the session is gone (refresh refused): the app shows the login screen. */
  onSignedOut: () => void = () => {};
  private refreshing: Promise<boolean> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly base = '/api',
    private readonly storage: Storage | null = typeof localStorage === 'undefined' ? null : localStorage,
  ) {
    const saved = this.storage?.getItem(TOKENS);
    this.tokens = saved ? (JSON.parse(saved) as Tokens) : null;
    this.schedule();
  }

  setTokens(tokens: Tokens | null): void {
    this.tokens = tokens ? { access_token: tokens.access_token, refresh_token: tokens.refresh_token } : null;
    if (this.tokens) this.storage?.setItem(TOKENS, JSON.stringify(this.tokens));
    else this.storage?.removeItem(TOKENS);
    this.schedule();
  }

  /** Refresh a minute before expiry (or at half the lifetime for short tokens). */
  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.tokens || typeof window === 'undefined') return;
    const exp = jwtExpiry(this.tokens.access_token);
    if (!exp) return;
    const left = exp * 1000 - Date.now();
    const wait = Math.max(1000, Math.min(left - 60_000, left / 2));
    this.timer = setTimeout(() => void this.refresh(), wait);
  }

  /** One refresh at a time; false (and signed out) when the server refuses it. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => (this.refreshing = null));
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const current = this.tokens;
    if (!current) return false;
    const res = await fetch(`${this.base}/auth/refresh`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: current.refresh_token }),
    }).catch(() => null);
    if (res === null) return false; // offline: keep the tokens, try again later
    if (!res.ok) {
      if (res.status === 401 || res.status === 400) {
        this.setTokens(null);
        this.onSignedOut();
      }
      return false;
    }
    this.setTokens((await res.json()) as Tokens);
    return true;
  }

  async request<T>(method: string, path: string, body?: unknown, init: { retry?: boolean; headers?: Record<string, string> } = {}): Promise<T> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.tokens) headers.Authorization = `Bearer ${this.tokens.access_token}`;
    let payload: BodyInit | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${this.base}${path}`, { method, headers, body: payload });
    if (res.status === 401 && this.tokens && init.retry !== false && !path.startsWith('/auth/')) {
      if (await this.refresh()) return this.request(method, path, body, { ...init, retry: false });
    }
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok) {
      throw new ApiError(res.status, json?.code ?? 'internal', json?.error ?? res.statusText);
    }
    return json as T;
  }

  get<T>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request<T>('POST', path, body ?? {}, { headers });
  }
  put<T>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, body ?? {});
  }
  patch<T>(path: string, body?: unknown) {
    return this.request<T>('PATCH', path, body ?? {});
  }
  del<T>(path: string) {
    return this.request<T>('DELETE', path);
  }
}
