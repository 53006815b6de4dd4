import { useEffect, useState } from 'preact/hooks';

import { describeError, shop } from './api';
import { Link, match, navigate, useLocation } from './router';
import { cartCount, session, useStore } from './store';
import { AccountPage } from './pages/account';
import { CartPage } from './pages/cart';
import { CheckoutPage } from './pages/checkout';
import { HomePage } from './pages/home';
import { NotFoundPage } from './pages/not-found';
import { OrderPage } from './pages/order';
import { OrdersPage } from './pages/orders';
import { ProductPage } from './pages/product';
import { ForgotPasswordPage, ResetPasswordPage, SignInPage, SignUpPage } from './pages/auth';
import { SearchPage } from './pages/search';

/** Keeps the header's cart badge in step with the session. */
export async function refreshCartCount(): Promise<void> {
  if (!session.get().signedIn) {
    cartCount.set(null);
    return;
  }
  try {
    const cart = await shop.cart.get();
    cartCount.set(cart.items.reduce((n, item) => n + item.quantity, 0));
  } catch {
    cartCount.set(null);
  }
}

function Header() {
  const { signedIn } = useStore(session);
  const count = useStore(cartCount);
  const { path, query } = useLocation();
  const [q, setQ] = useState(path === '/search' ? (query.get('q') ?? '') : '');
  const [signingOut, setSigningOut] = useState(false);

  useEffect(() => {
    setQ(path === '/search' ? (query.get('q') ?? '') : '');
  }, [path, query]);

  useEffect(() => {
    void refreshCartCount();
  }, [signedIn]);

  const onSearch = (event: Event) => {
    event.preventDefault();
    const text = q.trim();
    if (text) navigate(`/search?q=${encodeURIComponent(text)}`);
  };

  const onSignOut = async () => {
    setSigningOut(true);
    try {
      await shop.auth.logout();
    } finally {
      setSigningOut(false);
      cartCount.set(null);
      navigate('/');
    }
  };

  return (
    <header class="site-header">
      <div class="bar">
        <Link href="/" class="brand">
          Shop
        </Link>
        <form role="search" class="search" onSubmit={onSearch}>
          <label for="site-search" class="visually-hidden">
            Search
          </label>
          <input
            id="site-search"
            type="search"
            name="q"
            placeholder="Search products"
            value={q}
            onInput={(e) => setQ(e.currentTarget.value)}
            autocomplete="off"
          />
          <button type="submit">Find</button>
        </form>
        <nav aria-label="Account" class="account-nav">
          <Link href="/cart">
            Cart
          </Link>
          {count !== null && count > 0 && (
            <span class="badge" aria-label={`${count} items in cart`}>
              {count}
            </span>
          )}
          {signedIn ? (
            <>
              <Link href="/orders">Orders</Link>
              <Link href="/account">Account</Link>
              <button type="button" class="link-button" onClick={onSignOut} disabled={signingOut}>
                Sign out
              </button>
            </>
          ) : (
            <>
              <Link href="/signin">Sign in</Link>
              <Link href="/signup" class="primary-link">
                Sign up
              </Link>
            </>
          )}
        </nav>
      </div>
    </header>
  );
}

const routes: [string, (params: Record<string, string>) => preact.JSX.Element][] = [
  ['/', () => <HomePage />],
  ['/c/:slug', (p) => <HomePage slug={p.slug} />],
  ['/search', () => <SearchPage />],
  ['/p/:id', (p) => <ProductPage id={p.id ?? ''} />],
  ['/cart', () => <CartPage />],
  ['/checkout', () => <CheckoutPage />],
  ['/orders', () => <OrdersPage />],
  ['/orders/:id', (p) => <OrderPage id={p.id ?? ''} />],
  ['/account', () => <AccountPage />],
  ['/signin', () => <SignInPage />],
  ['/signup', () => <SignUpPage />],
  ['/forgot-password', () => <ForgotPasswordPage />],
  ['/reset-password', () => <ResetPasswordPage />],
];

export function App() {
  const { path } = useLocation();
  let page = <NotFoundPage />;
  for (const [pattern, render] of routes) {
    const params = match(pattern, path);
    if (params) {
      page = render(params);
      break;
    }
  }
  return (
    <>
      <a href="#main" class="skip-link">
        Skip to content
      </a>
      <Header />
      <main id="main" tabIndex={-1}>
        {page}
      </main>
      <footer class="site-footer">
        <p>Shop · a demo storefront built on the shop fleet's API · payments use test cards only</p>
      </footer>
    </>
  );
}

/** Sends a signed-out shopper to the sign-in page, coming back to `next` afterwards. */
export function requireSignIn(next: string): boolean {
  if (session.get().signedIn) return true;
  navigate(`/signin?next=${encodeURIComponent(next)}`, { replace: true });
  return false;
}

/** An error box for a failed load. */
export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div role="alert" class="notice error">
      <p>{describeError(error)}</p>
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}
