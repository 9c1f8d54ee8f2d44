/** The server's JSON shapes the app reads (protocol.md; the contexts' contracts). */

export interface User {
  id: string;
  username: string;
  display_name: string | null;
  avatar_url?: string | null;
  banner_url?: string | null;
  custom_status?: string | null;
}

export interface Community {
  id: string;
  name: string;
  description: string | null;
  owner_id: string;
  member_count: number;
}

export interface Group {
  id: string;
  community_id: string;
  name: string;
  public: boolean;
}

export interface Channel {
  id: string;
  kind: string;
  name: string | null;
  topic: string | null;
  community_id: string | null;
  group_id: string | null;
  read_only: boolean;
  archived: boolean;
  e2e_required: boolean;
}

export interface Dm {
  channel: Channel;
  other_user: User | null;
}

export interface Reaction {
  emoji: string;
  user_ids: string[];
}

export interface ServerMessage {
  id?: string;
  message_id?: string;
  channel_id: string;
  sender_id: string | null;
  ciphertext: string | null;
  nonce?: string | null;
  encryption: string;
  message_type: string;
  reply_to?: string | null;
  thread_id?: string | null;
  created_at?: string;
  edited_at?: string | null;
  deleted?: boolean;
  reactions?: { emoji: string; count: number; user_ids: string[] }[];
  mentions?: string[];
  position?: string;
}

/** A message as the app shows it. */
export interface Msg {
  id: string;
  clientId?: string;
  channelId: string;
  senderId: string | null;
  ciphertext: string | null;
  encryption: string;
  /** text | file | system | webhook */
  type: string;
  text: string | null;
  /** Why the text is missing: 'cannot decrypt', 'key changed', ... */
  problem?: string;
  replyTo?: string | null;
  createdAt: string;
  edited: boolean;
  deleted: boolean;
  reactions: Reaction[];
  /** The thread's first message when this is a reply in a thread. */
  threadId?: string | null;
  /** Replies in this message's thread, as the server counted them. */
  replyCount?: number;
  /** The user ids the sender declared as mentioned. */
  mentions?: string[];
  pending?: boolean;
  failed?: string;
}

export interface Unread {
  channel_id: string;
  unread_count: number;
  mention_count: number;
  last_read_message_id?: string | null;
}

/** A page of a paged list. */
export type Page<T> = { items: T[]; next_cursor: string | null };
