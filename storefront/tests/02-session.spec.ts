import { expect, test } from '@playwright/test';

import { accessToken, newCustomer, shot, signIn, waitUntilRejected } from './support';

test('an access token that expires mid-session is refreshed without the shopper noticing', async ({ page }) => {
  const shopper = await newCustomer('Katherine Johnson');
  await signIn(page, shopper.email, shopper.password);

  // The shopper reads a product page while the access token expires.
  await page.getByRole('link', { name: 'Electronics' }).click();
  await page.getByRole('list', { name: 'Products' }).getByRole('link').first().click();
  await expect(page.getByRole('button', { name: 'Add to cart' })).toBeEnabled();
  const expired = await accessToken(page);
  const waited = await waitUntilRejected(expired);
  test.info().annotations.push({ type: 'waited for expiry', description: `${(waited / 1000).toFixed(1)} s` });

  const statuses: { method: string; path: string; status: number }[] = [];
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith('/api/')) {
      statuses.push({ method: response.request().method(), path: url.pathname, status: response.status() });
    }
  });

  // The next action just works: the 401 is answered by one refresh and a retry.
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Added to your cart' })).toBeVisible();
  await expect(page).not.toHaveURL(/signin/);
  expect(statuses).toContainEqual({ method: 'POST', path: '/api/v1/cart/items', status: 401 });
  expect(statuses).toContainEqual({ method: 'POST', path: '/api/v1/cart/items', status: 200 });
  expect(statuses.filter((s) => s.path === '/api/v1/auth/refresh')).toEqual([
    { method: 'POST', path: '/api/v1/auth/refresh', status: 200 },
  ]);
  expect(await accessToken(page)).not.toBe(expired);

  // And the rest of the session goes on: account pages load with the new token.
  await page.getByRole('link', { name: 'Account' }).click();
  await expect(page.getByRole('heading', { name: 'Your account' })).toBeVisible();
  await expect(page.getByText(shopper.email)).toBeVisible();
  await page.getByLabel('SMS').check();
  await page.getByRole('button', { name: 'Save notification settings' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Notification settings saved.' })).toBeVisible();
  await page.getByLabel('Language').selectOption('de-CH');
  await page.getByRole('button', { name: 'Save preferences' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Preferences saved.' })).toBeVisible();
  await shot(page, '13-account');
  await page.reload();
  await expect(page.getByLabel('SMS')).toBeChecked();
  await expect(page.getByLabel('Language')).toHaveValue('de-CH');
});
