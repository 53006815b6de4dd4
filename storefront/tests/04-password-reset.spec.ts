import { expect, test } from '@playwright/test';

import { newCustomer, resetLinkMailedTo, shot, signIn } from './support';

test('a password reset from the link in the mail, then sign in with the new password', async ({ page }) => {
  // `cargo xtask browser` runs an SMTP server and sets SHOP_MAILDIR; against
  // `cargo xtask up` mail goes to notification-service's log.
  test.skip(!process.env.SHOP_MAILDIR, 'needs the mail of the test fleet (SHOP_MAILDIR)');
  const shopper = await newCustomer('Annie Easley');
  await page.goto('/signin');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByLabel('E-mail').fill(shopper.email);
  await shot(page, '17-forgot-password');
  await page.getByRole('button', { name: 'Send reset link' }).click();
  await expect(page.getByRole('status')).toContainText('we have sent it a link');

  // The mail links to this storefront's reset page.
  const link = await resetLinkMailedTo(shopper.email);
  expect(new URL(link).origin).toBe(new URL(page.url()).origin);
  await page.goto(link);
  await expect(page.getByRole('heading', { name: 'Choose a new password' })).toBeVisible();
  const newPassword = 'a brand new passphrase 42';
  await page.getByLabel('New password', { exact: true }).fill(newPassword);
  await shot(page, '18-reset-password');
  await page.getByRole('button', { name: 'Set new password' }).click();
  await expect(page.getByRole('status')).toContainText('Your password was changed');

  await signIn(page, shopper.email, newPassword);

  // The link works once.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.goto(link);
  await page.getByLabel('New password', { exact: true }).fill('yet another passphrase 7');
  await page.getByRole('button', { name: 'Set new password' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid, used or expired');
});
