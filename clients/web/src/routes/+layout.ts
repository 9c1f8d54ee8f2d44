// A client-only SPA: no server rendering, every route falls back to index.html.
export const ssr = false;
export const prerender = false;
