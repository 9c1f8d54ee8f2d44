import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** A single-page app: static files with an index.html fallback that `chatalot serve` serves at /. */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', strict: true }),
    // absolute asset paths: the fallback page is served for any path
    paths: { relative: false },
  },
};

export default config;
