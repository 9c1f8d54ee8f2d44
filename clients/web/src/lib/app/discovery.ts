/**
 * Discovery and joining (spaces.md): public communities listed by their owners
 * (`GET /communities/discover`, joined with `POST /communities/{id}/join`), public groups
 * of my communities (`GET /groups/discover`), and what an invite leads to before accepting
 * it (`GET /community-invites/{code}`). Kept beside the app state, which it reloads.
 */
import type { ChatState } from './state.svelte';
import type { Community, Group, Page } from './types';

export interface InviteInfo {
  community_id: string;
  community_name: string;
  group_id: string | null;
  group_name: string | null;
  member_count: number;
  expires_at: string | null;
}

export function discoverCommunities(app: ChatState, cursor: string | null = null): Promise<Page<Community>> {
  return app.api.get<Page<Community>>(`/communities/discover?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
}

export async function discoverGroups(app: ChatState): Promise<Group[]> {
  const found = await app.api.get<Group[] | Page<Group>>('/groups/discover?limit=100');
  return Array.isArray(found) ? found : found.items;
}

/** Join a public community, then its public groups (their channels show in the sidebar). */
export async function joinCommunity(app: ChatState, communityId: string): Promise<void> {
  await app.api.post(`/communities/${communityId}/join`);
  await app.spaces.load();
  for (const g of app.spaces.groups[communityId] ?? []) {
    if (!app.spaces.myGroups.includes(g.id) && g.public) await app.api.post(`/groups/${g.id}/join`).catch(() => {});
  }
  await app.spaces.load();
}

export function inviteInfo(app: ChatState, code: string): Promise<InviteInfo> {
  return app.api.get<InviteInfo>(`/community-invites/${encodeURIComponent(code)}`);
}

/** The first text channel of a community I can open (where joining lands). */
export function firstChannel(app: ChatState, communityId: string): string | null {
  const groups = new Set((app.spaces.groups[communityId] ?? []).filter((g) => app.spaces.myGroups.includes(g.id)).map((g) => g.id));
  return app.spaces.channels.find((c) => c.kind === 'text' && c.group_id && groups.has(c.group_id))?.id ?? null;
}
