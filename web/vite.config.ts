import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// The console is served under a strict Content-Security-Policy (no inline scripts or styles), by
// the same process as its API, from whatever path `patchbay ui` chooses: hence relative asset
// URLs, no module-preload polyfill (it is an inline script) and no prerendering.
export default defineConfig({
  base: './',
  plugins: [preact({ prerender: { enabled: false }, reactAliasesEnabled: false })],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: false,
  },
});
