import type { Cart } from '@shop/sdk';
import { useEffect, useState } from 'preact/hooks';

import { describeError, shop } from '../api';
import { ErrorBox, refreshCartCount, requireSignIn } from '../app';
import { money } from '../format';
import { Link, navigate, useLoad, useTitle } from '../router';
import { Loading } from './common';

/** The cart: quantities, removal, subtotal, on to checkout. */
export function CartPage() {
  useTitle('Cart');
  const signedIn = requireSignIn('/cart');
  const cart = useLoad(() => (signedIn ? shop.cart.get() : Promise.resolve(null)), [signedIn]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    void refreshCartCount();
  }, [cart.data]);

  if (!signedIn) return null;
  if (cart.error) return <ErrorBox error={cart.error} retry={cart.reload} />;
  if (!cart.data) return <Loading what="your cart" />;

  const change = async (action: () => Promise<Cart>) => {
    setBusy(true);
    setError(null);
    try {
      cart.setData(await action());
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  const c = cart.data;
  return (
    <section class="content narrow">
      <h1>Your cart</h1>
      {error && (
        <p role="alert" class="notice error">
          {error}
        </p>
      )}
      {c.items.length === 0 ? (
        <p>
          Your cart is empty. <Link href="/">Browse the shop</Link>.
        </p>
      ) : (
        <>
          <table class="lines">
            <caption class="visually-hidden">Items in your cart</caption>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Price</th>
                <th scope="col">Quantity</th>
                <th scope="col">Total</th>
                <th scope="col">
                  <span class="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {c.items.map((item) => (
                <tr key={item.product_id}>
                  <td>
                    <Link href={`/p/${item.product_id}`}>{item.name}</Link>
                  </td>
                  <td>{money(item.unit_price_cents, item.currency)}</td>
                  <td>
                    <input
                      type="number"
                      min={1}
                      max={99}
                      value={item.quantity}
                      aria-label={`Quantity of ${item.name}`}
                      disabled={busy}
                      onChange={(e) => {
                        const quantity = Number(e.currentTarget.value);
                        if (Number.isInteger(quantity) && quantity >= 1 && quantity <= 99) {
                          void change(() => shop.cart.setQuantity(item.product_id, quantity));
                        }
                      }}
                    />
                  </td>
                  <td>{money(item.line_total_cents, item.currency)}</td>
                  <td>
                    <button
                      type="button"
                      class="link-button"
                      disabled={busy}
                      aria-label={`Remove ${item.name}`}
                      onClick={() => void change(() => shop.cart.remove(item.product_id))}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {c.unavailable_items.length > 0 && (
            <p class="notice error" role="alert">
              {c.unavailable_items.length} item(s) in your cart can no longer be bought; remove them to check out.
            </p>
          )}
          <dl class="totals">
            <dt>Subtotal</dt>
            <dd data-testid="subtotal">{money(c.subtotal_cents, c.currency)}</dd>
          </dl>
          <p class="muted">Shipping and tax are calculated at checkout.</p>
          <button type="button" class="primary" disabled={busy} onClick={() => navigate('/checkout')}>
            Checkout
          </button>
        </>
      )}
    </section>
  );
}
