import { fileURLToPath } from 'node:url';

import { defineConfig } from '@playwright/test';

// The browser tests drive Debian's Chromium (Playwright's own browser
// download cannot work here) against a running fleet behind the gateway:
// `cargo xtask browser` starts one and sets the variables below; against
// `cargo xtask up --seed`, `npm run test:browser` works as it is.
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const target = fileURLToPath(new URL('../target/storefront/', import.meta.url));

export default defineConfig({
  testDir: 'tests',
  // One shopper at a time: the machine has two cores and the fleet shares them.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  outputDir: `${target}test-results`,
  use: {
    baseURL: process.env.SHOP_BASE_URL ?? 'http://127.0.0.1:8080',
    headless: true,
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'UTC',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: chromium,
      args: [
        // Tests run as root.
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        // This machine's network is closed: no background connections.
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-default-apps',
        '--disable-extensions',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
});
