import type { Reroute } from '@sveltejs/kit';
import { isAppPath } from '$lib/app/route';

/**
 * Every URL of the app (src/lib/app/route.ts) is the one page at `/`: moving between a
 * channel, a DM, a thread or a community keeps the app mounted, its socket open.
 */
export const reroute: Reroute = ({ url }) => (isAppPath(url.pathname) ? '/' : undefined);
