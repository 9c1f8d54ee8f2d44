/**
 * Where this user can talk, as the sidebar shows it: communities and their groups, the
 * groups joined, their channels and the DMs, read together (with the unread counts) and
 * read again after each change made here or announced by the gateway; creating, joining
 * and inviting.
 */
import type { Channel, Community, Dm, Group, Page, Unread, User } from './types';
import type { ChatState } from './state.svelte';

export class Spaces {
  communities = $state<Community[]>([]);
  /** Per community: its groups (the ones this user may see). */
  groups = $state<Record<string, Group[]>>({});
  /** Ids of the groups this user is a member of. */
  myGroups = $state<string[]>([]);
  channels = $state<Channel[]>([]);
  dms = $state<Dm[]>([]);
  private loads = 0;

  constructor(private readonly app: ChatState) {}

  /** Signed out: nothing to show. */
  reset(): void {
    this.communities = [];
    this.channels = [];
    this.dms = [];
  }

  /** Everything the sidebar shows; of loads that overlap, only the latest one's answers are kept. */
  async load(): Promise<void> {
    const api = this.app.api;
    const load = ++this.loads;
    const [communities, myGroups, channels, dms, unread] = await Promise.all([
      api.get<Community[]>('/communities'),
      api.get<Group[]>('/groups'),
      api.get<Channel[]>('/channels'),
      api.get<Page<Dm>>('/dms?limit=100'),
      api.get<Unread[]>('/channels/unread'),
    ]);
    const groups = await Promise.all(communities.map((c) => api.get<Group[]>(`/communities/${c.id}/groups`)));
    if (load !== this.loads) return;
    this.communities = communities;
    this.myGroups = myGroups.map((g) => g.id);
    this.channels = channels;
    this.dms = dms.items;
    for (const dm of dms.items) if (dm.other_user) this.app.people.users[dm.other_user.id] = dm.other_user;
    this.app.unreads.replace(unread);
    this.groups = Object.fromEntries(communities.map((c, i) => [c.id, groups[i]]));
  }

  channel(id: string | null): Channel | undefined {
    if (!id) return undefined;
    return this.channels.find((c) => c.id === id) ?? this.dms.find((d) => d.channel.id === id)?.channel;
  }

  dmPeer(channelId: string): User | null {
    return this.dms.find((d) => d.channel.id === channelId)?.other_user ?? null;
  }

  /** `open`: public and listed in discovery (anyone may find and join it). */
  async createCommunity(name: string, open = false): Promise<string> {
    const { id } = await this.app.api.post<{ id: string }>('/communities', { name, public: open, discoverable: open });
    await this.load();
    return id;
  }

  async createGroup(communityId: string, name: string): Promise<string> {
    const { id } = await this.app.api.post<{ id: string }>('/groups', { community_id: communityId, name });
    await this.load();
    return id;
  }

  async createChannel(groupId: string, name: string): Promise<string> {
    const { id } = await this.app.api.post<{ id: string }>(`/groups/${groupId}/channels`, { name });
    await this.load();
    return id;
  }

  async joinGroup(groupId: string): Promise<void> {
    await this.app.api.post(`/groups/${groupId}/join`);
    await this.load();
  }

  async createInvite(communityId: string): Promise<string> {
    const invite = await this.app.api.post<{ code: string }>(`/communities/${communityId}/invites`, {});
    return invite.code;
  }

  async acceptInvite(code: string): Promise<void> {
    const api = this.app.api;
    const joined = await api.post<{ community_id: string; group_id: string | null }>(`/community-invites/${encodeURIComponent(code.trim())}/accept`);
    await this.load();
    // Join the community's public groups at once: its channels show up in the sidebar.
    for (const g of this.groups[joined.community_id] ?? []) {
      if (!this.myGroups.includes(g.id) && g.public) await api.post(`/groups/${g.id}/join`).catch(() => {});
    }
    await this.load();
  }

  /** The DM with this user (made when new), opened. */
  async openDm(user: User): Promise<string> {
    const reply = await this.app.api.post<{ channel_id: string }>('/dms', { target_user_id: user.id });
    this.app.people.users[user.id] = user;
    await this.load();
    await this.app.open(reply.channel_id);
    return reply.channel_id;
  }

  async setE2e(channelId: string): Promise<void> {
    await this.app.api.patch(`/channels/${channelId}`, { e2e_required: true });
    await this.load();
  }
}
