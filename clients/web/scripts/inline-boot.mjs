// SvelteKit's static build starts the app from an inline <script> in index.html; the
// server's Content-Security-Policy allows scripts from 'self' only. This moves that script
// into build/boot-<hash>.js and points index.html at it (run after `vite build`).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const page = new URL('../build/index.html', import.meta.url);
const html = readFileSync(page, 'utf8');
const found = html.match(/<script>([\s\S]*?)<\/script>/);
if (!found) {
  console.log('inline-boot: no inline script in build/index.html');
  process.exit(0);
}
const name = `boot-${createHash('sha256').update(found[1]).digest('hex').slice(0, 12)}.js`;
writeFileSync(new URL(`../build/${name}`, import.meta.url), found[1]);
writeFileSync(page, html.replace(found[0], `<script src="/${name}"></script>`));
if (/<script>/.test(readFileSync(page, 'utf8'))) throw new Error('inline-boot: more than one inline script');
console.log(`inline-boot: build/index.html starts the app from /${name}`);
