// The accessibility audit of the browser tests (issue 20 item 7): axe-core (npm) evaluated
// in the page (through the DevTools protocol, so the app's CSP stays as served) on each main
// screen, at desktop and phone widths. Serious and critical violations fail the run; all
// of them are listed at the end, each with the screen and the elements it is about.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const found = [];
const seen = new Set();

/** Run axe on the page as it is now; record serious/critical violations under `screen`. */
export async function audit(page, screen) {
  const loaded = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!loaded) await page.evaluate(`${AXE}\n;0`);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'], runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1, 3).join(' ')}`) }));
  });
  for (const v of violations) {
    if (v.impact !== 'serious' && v.impact !== 'critical') continue;
    const key = `${screen}|${v.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    found.push({ screen, ...v });
  }
}

export function report() {
  return found.map((v) => `[${v.screen}] ${v.impact} ${v.id}: ${v.help}\n    ${v.nodes.join('\n    ')}`).join('\n');
}
