/**
 * The app's URLs (the static build's fallback page serves every one of them; src/hooks.ts
 * maps them all to the one page, so moving between them never remounts the app):
 *
 *   /                                  home
 *   /channel/<id>                      a channel
 *   /channel/<id>/thread/<message id>  a channel with a thread open
 *   /dm/<id>                           a direct message (a channel too)
 *   /community/<id>                    a community's overview
 *   /invite/<code>                     an invite link (also the older /#invite=<code>)
 *   /discover                          public communities and groups
 *
 * Parsing is strict: anything else is home, so a mistyped link never opens something else.
 */

export type Route =
  | { kind: 'home' }
  | { kind: 'channel'; channelId: string; threadId: string | null }
  | { kind: 'dm'; channelId: string }
  | { kind: 'community'; communityId: string }
  | { kind: 'invite'; code: string }
  | { kind: 'discover' };

const ID = /^[0-9A-Za-z-]{1,64}$/;
const CODE = /^[\w-]{1,128}$/;

/** The paths the app owns (the server must answer them with the app's page). */
export const APP_PREFIXES = ['/channel/', '/dm/', '/community/', '/invite/', '/discover'] as const;

export function isAppPath(pathname: string): boolean {
  return pathname === '/' || APP_PREFIXES.some((p) => pathname === p.replace(/\/$/, '') || pathname.startsWith(p));
}

export function parseRoute(pathname: string, hash = ''): Route {
  const legacy = hash.match(/^#invite=([\w-]{1,128})$/);
  if (legacy) return { kind: 'invite', code: legacy[1] };
  const parts = pathname.split('/').filter((s) => s !== '');
  let decoded: string[];
  try {
    decoded = parts.map(decodeURIComponent);
  } catch {
    return { kind: 'home' };
  }
  const [head, a, sub, b] = decoded;
  if (head === 'channel' && a && ID.test(a)) {
    if (decoded.length === 2) return { kind: 'channel', channelId: a, threadId: null };
    if (decoded.length === 4 && sub === 'thread' && b && ID.test(b)) return { kind: 'channel', channelId: a, threadId: b };
  }
  if (decoded.length === 2 && a) {
    if (head === 'dm' && ID.test(a)) return { kind: 'dm', channelId: a };
    if (head === 'community' && ID.test(a)) return { kind: 'community', communityId: a };
    if (head === 'invite' && CODE.test(a)) return { kind: 'invite', code: a };
  }
  if (decoded.length === 1 && head === 'discover') return { kind: 'discover' };
  return { kind: 'home' };
}

export function routePath(r: Route): string {
  const e = encodeURIComponent;
  switch (r.kind) {
    case 'home':
      return '/';
    case 'channel':
      return r.threadId ? `/channel/${e(r.channelId)}/thread/${e(r.threadId)}` : `/channel/${e(r.channelId)}`;
    case 'dm':
      return `/dm/${e(r.channelId)}`;
    case 'community':
      return `/community/${e(r.communityId)}`;
    case 'invite':
      return `/invite/${e(r.code)}`;
    case 'discover':
      return '/discover';
  }
}

/** The channel a route shows, if any. */
export function routeChannel(r: Route): string | null {
  return r.kind === 'channel' || r.kind === 'dm' ? r.channelId : null;
}

/** Two routes show the same thing (so the URL need not change). */
export function sameRoute(a: Route, b: Route): boolean {
  return routePath(a) === routePath(b);
}
