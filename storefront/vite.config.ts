import { defineConfig } from 'vite';

// The dev server (`npm run dev`, http://localhost:5173) forwards the API and
// product media to a running fleet's gateway, so the app calls its own
// origin exactly as it does when the gateway serves it at `/`.
// SHOP_GATEWAY_URL points it at another gateway.
const gateway = process.env.SHOP_GATEWAY_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  oxc: {
    jsx: {
      runtime: 'automatic',
      importSource: 'preact',
    },
  },
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      '/api': { target: gateway, changeOrigin: true },
      '/media': { target: gateway, changeOrigin: true },
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: true,
    // The gateway serves these under /assets/ with a year-long immutable cache.
    assetsDir: 'assets',
  },
});
