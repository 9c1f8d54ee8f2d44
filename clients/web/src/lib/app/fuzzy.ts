/**
 * The quick switcher's matcher: the query's characters must appear in order in the label
 * (case- and accent-insensitive). A match scores higher when it starts the label or a
 * word, when its characters run on consecutively, and when the label is short; so "gen"
 * ranks "general" above "engineering-notes", and "tc" finds "team-chat".
 */

export interface Scored<T> {
  item: T;
  score: number;
  /** The label's indices the query matched (for highlighting). */
  indices: number[];
}

const fold = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
const isBoundary = (label: string, i: number) => i === 0 || /[\s\-_./#@]/.test(label[i - 1]) || (label[i - 1] === label[i - 1].toLowerCase() && label[i] !== label[i].toLowerCase());

/** The best score of `query` in `label`, or null when the characters are not all there in order. */
export function fuzzyScore(query: string, label: string): { score: number; indices: number[] } | null {
  const q = fold(query).replace(/\s+/g, '');
  const folded = fold(label);
  if (folded.length !== label.length) return fuzzyScore(query, folded); // folding changed the length: score the folded form
  if (!q) return { score: 0, indices: [] };
  // best[i][j]: best score matching q[0..i] with q[i] at label position j (small labels: O(q * n^2) is fine)
  const n = folded.length;
  const m = q.length;
  if (m > n) return null;
  let prev: (number | null)[] = new Array(n).fill(null);
  const from: number[][] = [];
  for (let i = 0; i < m; i++) {
    const cur: (number | null)[] = new Array(n).fill(null);
    const back: number[] = new Array(n).fill(-1);
    for (let j = i; j < n; j++) {
      if (folded[j] !== q[i]) continue;
      let bonus = 1;
      if (isBoundary(label, j)) bonus += 8;
      if (j === 0) bonus += 4;
      if (i === 0) {
        cur[j] = bonus - Math.min(j, 10) * 0.1;
        continue;
      }
      let best: number | null = null;
      for (let k = i - 1; k < j; k++) {
        const p = prev[k];
        if (p === null) continue;
        const s = p + bonus + (k === j - 1 ? 6 : -Math.min(j - k - 1, 5) * 0.2);
        if (best === null || s > best) {
          best = s;
          back[j] = k;
        }
      }
      cur[j] = best;
    }
    from.push(back);
    prev = cur;
  }
  let end = -1;
  for (let j = 0; j < n; j++) if (prev[j] !== null && (end < 0 || prev[j]! > prev[end]!)) end = j;
  if (end < 0) return null;
  const indices: number[] = [];
  for (let i = m - 1, j = end; i >= 0; i--) {
    indices.unshift(j);
    j = from[i][j];
  }
  const exact = folded === q ? 20 : folded.startsWith(q) ? 10 : 0;
  return { score: prev[end]! + exact - n * 0.01, indices };
}

/** The items whose label matches, best first (ties keep the given order). */
export function fuzzyFilter<T>(query: string, items: T[], label: (t: T) => string, limit = 50): Scored<T>[] {
  const out: (Scored<T> & { order: number })[] = [];
  items.forEach((item, order) => {
    const r = fuzzyScore(query, label(item));
    if (r) out.push({ item, score: r.score, indices: r.indices, order });
  });
  out.sort((a, b) => b.score - a.score || a.order - b.order);
  return out.slice(0, limit).map(({ item, score, indices }) => ({ item, score, indices }));
}
