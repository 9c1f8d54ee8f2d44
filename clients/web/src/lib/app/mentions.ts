/**
 * Mentions (protocol.md "Settled details"): the server cannot read E2E text, so the sender
 * declares the mentioned user ids with send_message / edit_message (at most 50, each a
 * member of the channel, else 400). The composer offers members after `@`; the ids sent
 * are those whose `@username` stands in the text at send time, so a mention typed by hand
 * counts too and one deleted from the draft does not.
 */

export interface Mentionable {
  id: string;
  username: string;
  display_name?: string | null;
}

export const MAX_MENTIONS = 50;
const NAME = /[A-Za-z0-9_.-]/;

/** The `@word` being typed at the caret (start = index of the `@`), or null. */
export function mentionQuery(text: string, caret: number): { start: number; query: string } | null {
  let i = caret;
  while (i > 0 && NAME.test(text[i - 1])) i--;
  if (i === 0 || text[i - 1] !== '@') return null;
  const at = i - 1;
  if (at > 0 && !/\s|[([{"'>]/.test(text[at - 1])) return null; // an e-mail address, not a mention
  return { start: at, query: text.slice(i, caret) };
}

/** Members matching query: usernames and display names starting with it first, then containing it. */
export function suggest(query: string, members: Mentionable[], exclude: string | null = null, limit = 8): Mentionable[] {
  const q = query.toLowerCase();
  const rank = (m: Mentionable): number => {
    const names = [m.username.toLowerCase(), (m.display_name ?? '').toLowerCase()];
    if (names.some((n) => n.startsWith(q))) return 0;
    if (names.some((n) => n.includes(q))) return 1;
    return 2;
  };
  return members
    .filter((m) => m.id !== exclude)
    .map((m) => [rank(m), m] as const)
    .filter(([r]) => r < 2)
    .sort((x, y) => x[0] - y[0] || x[1].username.localeCompare(y[1].username))
    .slice(0, limit)
    .map(([, m]) => m);
}

/** The text with the `@query` at start replaced by `@username `, and the caret after it. */
export function insertMention(text: string, caret: number, start: number, username: string): { text: string; caret: number } {
  const inserted = `@${username} `;
  const rest = text.slice(caret).replace(/^[A-Za-z0-9_.-]*\s?/, '');
  return { text: text.slice(0, start) + inserted + rest, caret: start + inserted.length };
}

/** The ids to declare: members whose `@username` stands in text as a whole word (at most 50). */
export function declaredMentions(text: string, members: Mentionable[]): string[] {
  const found = new Set<string>();
  const re = /(^|[\s([{"'>])@([A-Za-z0-9_.-]+)/g;
  const byName = new Map(members.map((m) => [m.username.toLowerCase(), m.id]));
  for (const match of text.matchAll(re)) {
    const name = match[2].replace(/[.-]+$/, '').toLowerCase(); // "@bob." ends a sentence
    const id = byName.get(name) ?? byName.get(match[2].toLowerCase());
    if (id) found.add(id);
    if (found.size === MAX_MENTIONS) break;
  }
  return [...found];
}
