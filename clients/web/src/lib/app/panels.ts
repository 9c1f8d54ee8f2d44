/**
 * The side panels' data (threads, pins, edit history, bookmarks): REST reads turned into
 * the timeline's Msg (decrypted like the timeline), and the few writes they offer. Kept
 * out of state.svelte.ts: the panels load on demand and hold their own copies.
 */
import { utf8ToBase64 } from './secure';
import type { ChatState } from './state.svelte';
import type { Msg, Page, ServerMessage } from './types';

export interface PinView {
  messageId: string;
  pinnedBy: string;
  pinnedAt: string;
  msg: Msg | null;
}

export interface Version {
  at: string;
  editorId: string | null;
  text: string | null;
  problem?: string;
}

export interface Bookmark {
  id: string;
  message_id: string;
  channel_id: string;
  note: string | null;
  created_at: string;
}

/**
 * Headers that make a panel's read answer as of what this socket has seen: a panel reloads
 * when a pin or poll event arrives, and another user's vote must be in the answer.
 */
function seen(app: ChatState): { headers: Record<string, string> } {
  const position = app.gateway?.position;
  return { headers: position ? { 'Chatalot-Min-Position': position } : {} };
}

const byTime = (a: Msg, b: Msg) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);

/**
 * A thread as shown: its first message, then the replies, oldest first; loaded and live
 * copies merged by id (a live copy wins: it carries edits and reactions seen since).
 */
export function mergeThread(root: string, loaded: Msg[], live: Msg[]): Msg[] {
  const out = new Map<string, Msg>();
  for (const m of [...loaded, ...live]) {
    if (m.id === root || m.threadId === root) out.set(m.id, m);
  }
  // my pending reply is dropped once its confirmed copy (same client id) is there
  const confirmed = new Set([...out.values()].filter((m) => !m.pending && m.clientId).map((m) => m.clientId));
  return [...out.values()].filter((m) => !(m.pending && confirmed.has(m.clientId))).sort(byTime);
}

/** The replies shown for a message in the main timeline (the server's count or what is loaded). */
export function replyCount(m: Msg, all: Msg[]): number {
  return Math.max(m.replyCount ?? 0, all.filter((x) => x.threadId === m.id && !x.deleted).length);
}

export async function loadThread(app: ChatState, channelId: string, root: string): Promise<Msg[]> {
  const page = await app.api.get<Page<ServerMessage>>(`/channels/${channelId}/threads/${root}?limit=100`);
  const opened = await Promise.all(page.items.map((s) => app.messages.show(s)));
  return opened.sort(byTime);
}

export async function loadPins(app: ChatState, channelId: string): Promise<PinView[]> {
  const pins = await app.api.request<{ message_id: string; pinned_by: string; pinned_at: string; message: ServerMessage | null }[]>(
    'GET',
    `/channels/${channelId}/pins`,
    undefined,
    seen(app),
  );
  return Promise.all(
    pins.map(async (p) => ({
      messageId: p.message_id,
      pinnedBy: p.pinned_by,
      pinnedAt: p.pinned_at,
      msg: p.message ? await app.messages.show(p.message) : null,
    })),
  );
}

/** Pin or unpin (moderators; the server answers 403 otherwise, 422 past 50 pins). */
export async function setPinned(app: ChatState, channelId: string, messageId: string, pinned: boolean): Promise<void> {
  if (pinned) await app.api.post(`/channels/${channelId}/pins/${messageId}`, {});
  else await app.api.del(`/channels/${channelId}/pins/${messageId}`);
}

/** Every version of a message, the original first, each opened like the timeline's text. */
export async function loadHistory(app: ChatState, msg: Msg): Promise<Version[]> {
  const h = await app.api.get<{ versions: { ciphertext: string; editor_id: string | null; at: string }[] }>(
    `/channels/${msg.channelId}/messages/${msg.id}/history`,
  );
  return Promise.all(
    h.versions.map(async (v) => ({
      at: v.at,
      editorId: v.editor_id,
      ...(await app.messages.openText(msg.channelId, msg.senderId, msg.encryption, v.ciphertext)),
    })),
  );
}

export function loadBookmarks(app: ChatState): Promise<Bookmark[]> {
  return app.api.get<Bookmark[]>('/bookmarks');
}

export function addBookmark(app: ChatState, messageId: string, note: string | null = null): Promise<Bookmark> {
  return app.api.post<Bookmark>('/bookmarks', note ? { message_id: messageId, note } : { message_id: messageId });
}

export async function removeBookmark(app: ChatState, id: string): Promise<void> {
  await app.api.del(`/bookmarks/${id}`);
}

// --- polls ------------------------------------------------------------------------------

export interface Poll {
  id: string;
  channel_id: string;
  creator_id: string;
  question: string;
  options: { text: string; votes: number; voter_ids: string[] | null }[];
  multi_select: boolean;
  anonymous: boolean;
  expires_at: string | null;
  closed: boolean;
  total_voters: number;
  my_vote: number[] | null;
  created_at: string;
}

/** The options of a poll form: one per line, trimmed, empty lines dropped; 2 to 10 of them. */
export function pollOptions(text: string): string[] {
  const out = text.split('\n').map((s) => s.trim()).filter(Boolean);
  if (out.length < 2) throw new Error('A poll needs at least two options.');
  if (out.length > 10) throw new Error('A poll has at most ten options.');
  if (out.some((o) => o.length > 200)) throw new Error('An option has at most 200 characters.');
  return out;
}

/** Each option's share of the voters, in whole percent (0 when nobody voted). */
export function shares(poll: Poll): number[] {
  return poll.options.map((o) => (poll.total_voters ? Math.round((100 * o.votes) / poll.total_voters) : 0));
}

export async function loadPolls(app: ChatState, channelId: string): Promise<Poll[]> {
  const page = await app.api.request<Page<Poll>>('GET', `/channels/${channelId}/polls?limit=50`, undefined, seen(app));
  return page.items;
}

export function createPoll(app: ChatState, channelId: string, question: string, options: string[], multi: boolean): Promise<Poll> {
  return app.api.post<Poll>(`/channels/${channelId}/polls`, { question, options, multi_select: multi });
}

export async function vote(app: ChatState, poll: string, indexes: number[]): Promise<void> {
  if (indexes.length) await app.api.post(`/polls/${poll}/vote`, { option_indexes: indexes });
  else await app.api.del(`/polls/${poll}/vote`);
}

export async function closePoll(app: ChatState, poll: string): Promise<void> {
  await app.api.post(`/polls/${poll}/close`, {});
}

// --- scheduled messages -----------------------------------------------------------------

export interface Scheduled {
  id: string;
  channel_id: string;
  scheduled_for: string;
  ciphertext: string;
  encryption: string;
}

/**
 * Schedule text in a plaintext channel (E2E text would be encrypted now and sent later,
 * out of order with the ratchet or chain: not offered). `when` must be in the future.
 */
export async function schedule(app: ChatState, channelId: string, text: string, when: Date, now = new Date()): Promise<Scheduled> {
  if (!(when.getTime() > now.getTime())) throw new Error('Pick a time in the future.');
  return app.api.post<Scheduled>('/messages/schedule', {
    channel_id: channelId,
    scheduled_for: when.toISOString(),
    ciphertext: utf8ToBase64(text),
    encryption: 'none',
  });
}

export async function loadScheduled(app: ChatState): Promise<Scheduled[]> {
  return (await app.api.get<Page<Scheduled>>('/messages/scheduled?limit=100')).items;
}

export async function cancelScheduled(app: ChatState, id: string): Promise<void> {
  await app.api.del(`/messages/scheduled/${id}`);
}
