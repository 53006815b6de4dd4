// The storefront's one ShopClient. Tokens live in localStorage, so a reload
// or a second tab keeps the session (refreshes are serialized across tabs).
import { ProblemError, ShopClient, WebStorageTokenStore } from '@shop/sdk';

import { navigate } from './router';
import { session } from './store';

export const shop = new ShopClient({
  tokens: new WebStorageTokenStore(window.localStorage, 'shop.session'),
  onSessionChange: (change) => {
    if (change === 'expired') {
      // The refresh token was refused (signed out elsewhere, or 30 days old):
      // sign in again and come back here.
      session.set({ signedIn: false, expired: true });
      const here = `${window.location.pathname}${window.location.search}`;
      if (window.location.pathname !== '/signin') navigate(`/signin?next=${encodeURIComponent(here)}`, { replace: true });
    }
    else if (change === 'signed-out') session.set({ signedIn: false, expired: false });
    else session.set({ signedIn: true, expired: false });
  },
});

/** A message for the shopper, from any error a call threw. */
export function describeError(err: unknown): string {
  if (err instanceof ProblemError) {
    if (err.status === 401) return 'Please sign in again.';
    if (err.status === 429) return 'Too many attempts. Please wait a moment and try again.';
    if (err.status >= 500) return 'Something went wrong on our side. Please try again in a moment.';
    if (err.errors.length > 0) return err.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    return err.detail ?? err.title;
  }
  if (err instanceof TypeError) return 'The shop cannot be reached. Check your connection and try again.';
  return 'Something went wrong. Please try again.';
}
