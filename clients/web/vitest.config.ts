import { defineConfig } from 'vitest/config';

// The crypto and storage tests run in Node (no browser): they need neither the SvelteKit
// plugin nor a DOM.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    benchmark: { include: ['bench/**/*.bench.ts'] },
  },
});
