import { afterEach, describe, expect, it, vi } from 'vitest';
import { Api, ApiError, jwtExpiry } from '../../src/lib/app/api';

const jwt = (claims: object) => `h.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.s`;

class MemoryStorage {
  data = new Map<string, string>();
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
  removeItem(k: string) {
    this.data.delete(k);
  }
}

afterEach(() => vi.unstubAllGlobals());

describe('api', () => {
  it('reads the expiry of a token', () => {
    expect(jwtExpiry(jwt({ exp: 1234 }))).toBe(1234);
    expect(jwtExpiry('garbage')).toBe(0);
  });

  it('refreshes once on a 401 and retries; concurrent 401s share one refresh', async () => {
    let refreshes = 0;
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      if (url.endsWith('/auth/refresh')) {
        refreshes += 1;
        return new Response(JSON.stringify({ access_token: 'new', refresh_token: 'r2' }), { status: 200 });
      }
      const auth = (init.headers as Record<string, string>).Authorization;
      if (auth !== 'Bearer new') return new Response(JSON.stringify({ error: 'expired', code: 'unauthorized' }), { status: 401 });
      return new Response(JSON.stringify({ ok: true }), { status: 200 });
    });
    const api = new Api('/api', new MemoryStorage() as unknown as Storage);
    api.setTokens({ access_token: 'old', refresh_token: 'r1' });
    const [a, b] = await Promise.all([api.get('/x'), api.get('/y')]);
    expect(a).toEqual({ ok: true });
    expect(b).toEqual({ ok: true });
    expect(refreshes).toBe(1);
    expect(api.tokens?.refresh_token).toBe('r2');
  });

  it('a refused refresh signs out; errors carry the protocol code', async () => {
    vi.stubGlobal('fetch', async (url: string) =>
      url.endsWith('/auth/refresh')
        ? new Response(JSON.stringify({ error: 'revoked', code: 'unauthorized' }), { status: 401 })
        : new Response(JSON.stringify({ error: 'expired', code: 'unauthorized' }), { status: 401 }),
    );
    const api = new Api('/api', new MemoryStorage() as unknown as Storage);
    api.setTokens({ access_token: 'old', refresh_token: 'r1' });
    let signedOut = false;
    api.onSignedOut = () => (signedOut = true);
    const err = await api.get('/x').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('unauthorized');
    expect(signedOut).toBe(true);
    expect(api.tokens).toBeNull();
  });
});
