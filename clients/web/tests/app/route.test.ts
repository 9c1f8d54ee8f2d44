import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isAppPath, parseRoute, routePath, type Route } from '../../src/lib/app/route';

const id = 'd3b07384-d113-4ec6-a7d4-9f1c6b3c2e11';

describe('routes', () => {
  it('parses every kind of URL', () => {
    expect(parseRoute('/')).toEqual({ kind: 'home' });
    expect(parseRoute(`/channel/${id}`)).toEqual({ kind: 'channel', channelId: id, threadId: null });
    expect(parseRoute(`/channel/${id}/`)).toEqual({ kind: 'channel', channelId: id, threadId: null });
    expect(parseRoute(`/channel/${id}/thread/m1`)).toEqual({ kind: 'channel', channelId: id, threadId: 'm1' });
    expect(parseRoute(`/dm/${id}`)).toEqual({ kind: 'dm', channelId: id });
    expect(parseRoute(`/community/${id}`)).toEqual({ kind: 'community', communityId: id });
    expect(parseRoute('/invite/Ab_9-x')).toEqual({ kind: 'invite', code: 'Ab_9-x' });
    expect(parseRoute('/discover')).toEqual({ kind: 'discover' });
    // the older invite link form
    expect(parseRoute('/', '#invite=XYZ')).toEqual({ kind: 'invite', code: 'XYZ' });
  });

  it('treats anything else as home (never opens the wrong thing)', () => {
    for (const p of ['/channel', '/channel/', `/channel/${id}/thread`, `/channel/${id}/pins/x`, '/dm/a/b', '/community/a b',
      '/invite/a%2Fb', '/invite/%E0%A4%A', '/nope', '/discover/x', `/channel/${'a'.repeat(65)}`]) {
      expect(parseRoute(p), p).toEqual({ kind: 'home' });
    }
  });

  it('the path of a route parses back to it', () => {
    const idArb = fc.stringMatching(/^[0-9A-Za-z-]{1,64}$/);
    const route: fc.Arbitrary<Route> = fc.oneof(
      fc.constant<Route>({ kind: 'home' }),
      fc.constant<Route>({ kind: 'discover' }),
      fc.record({ kind: fc.constant('channel' as const), channelId: idArb, threadId: fc.option(idArb, { nil: null }) }),
      fc.record({ kind: fc.constant('dm' as const), channelId: idArb }),
      fc.record({ kind: fc.constant('community' as const), communityId: idArb }),
      fc.record({ kind: fc.constant('invite' as const), code: fc.stringMatching(/^[\w-]{1,128}$/) }),
    );
    fc.assert(fc.property(route, (r) => {
      expect(parseRoute(routePath(r))).toEqual(r);
      expect(isAppPath(routePath(r))).toBe(true);
    }));
  });

  it('owns only its own paths: the API, the socket, the schema and the files stay the server\'s', () => {
    for (const p of ['/api/auth/login', '/ws', '/schema', '/schema/openapi.json', '/metrics', '/manifest.webmanifest', '/_app/immutable/x.js', '/channels', '/dms'])
      expect(isAppPath(p), p).toBe(false);
    for (const p of ['/', '/discover', `/dm/${id}`, `/channel/${id}/thread/${id}`, '/invite/abc']) expect(isAppPath(p), p).toBe(true);
  });
});
