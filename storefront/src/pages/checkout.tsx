import { type Attempt, type Cart, type CheckoutRequest, type Order, ProblemError } from '@shop/sdk';
import { useRef, useState } from 'preact/hooks';

import { describeError, shop } from '../api';
import { ErrorBox, refreshCartCount, requireSignIn } from '../app';
import { money } from '../format';
import { Link, navigate, useLoad, useTitle } from '../router';
import { Loading } from './common';

const COUNTRIES: [string, string][] = [
  ['AT', 'Austria'],
  ['BE', 'Belgium'],
  ['CH', 'Switzerland'],
  ['DE', 'Germany'],
  ['ES', 'Spain'],
  ['FR', 'France'],
  ['GB', 'United Kingdom'],
  ['IT', 'Italy'],
  ['NL', 'Netherlands'],
  ['US', 'United States'],
];

const CARDS: [string, string][] = [
  ['tok_visa', 'Visa ending 4242 (test card: succeeds)'],
  ['tok_declined', 'Mastercard ending 0002 (test card: declined)'],
  ['tok_error', 'Amex ending 0005 (test card: payment provider outage)'],
];

interface ShortItem {
  product_id: string;
  requested: number;
  available: number;
}

/** What the shopper is told when the order could not be placed. */
function checkoutMessage(err: unknown, cart: Cart | undefined): string {
  if (err instanceof ProblemError) {
    if (err.status === 409) {
      const body = err.body as { short_items?: ShortItem[] } | undefined;
      const names = (body?.short_items ?? []).map((s) => {
        const name = cart?.items.find((i) => i.product_id === s.product_id)?.name ?? 'An item';
        return `${name} (${s.available} left, you asked for ${s.requested})`;
      });
      return `Sorry, some items are out of stock${names.length ? `: ${names.join(', ')}` : ''}. Nothing was charged and your cart is unchanged: lower the quantities and try again.`;
    }
    if (err.status === 402) return 'Your card was declined. Nothing was charged: please use another card.';
    if (err.status === 503 || err.status === 502 || err.status === 504) {
      return 'We could not take your order just now. Nothing was charged. Please try again in a moment.';
    }
    if (err.status === 422 && err.errors.length === 0) return err.detail ?? err.title;
  }
  return describeError(err);
}

/** Shipping address, payment, place the order. */
export function CheckoutPage() {
  useTitle('Checkout');
  const signedIn = requireSignIn('/checkout');
  const cart = useLoad(() => (signedIn ? shop.cart.get() : Promise.resolve(undefined)), [signedIn]);
  const [form, setForm] = useState({
    name: '',
    line1: '',
    line2: '',
    city: '',
    postal_code: '',
    country: 'DE',
    card: 'tok_visa',
  });
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  // The attempt being retried: reused while the request is the same and its
  // last outcome was not final (a 503 or no answer), so a retry is never a
  // second charge.
  const pending = useRef<{ body: string; attempt: Attempt<Order> } | null>(null);

  if (!signedIn) return null;
  if (cart.error) return <ErrorBox error={cart.error} retry={cart.reload} />;
  if (!cart.data) return <Loading what="your cart" />;
  const c = cart.data;

  if (c.items.length === 0) {
    return (
      <section class="content narrow">
        <h1>Checkout</h1>
        <p>
          Your cart is empty. <Link href="/">Browse the shop</Link>.
        </p>
      </section>
    );
  }

  const set = (key: keyof typeof form) => (e: Event) =>
    setForm({ ...form, [key]: (e.currentTarget as HTMLInputElement).value });

  const placeOrder = async (event: Event) => {
    event.preventDefault();
    setError(null);
    setFieldErrors({});
    const body: CheckoutRequest = {
      shipping_address: {
        name: form.name.trim(),
        line1: form.line1.trim(),
        ...(form.line2.trim() ? { line2: form.line2.trim() } : {}),
        city: form.city.trim(),
        postal_code: form.postal_code.trim(),
        country: form.country,
      },
      payment: { method: 'card', token: form.card },
    };
    const json = JSON.stringify(body);
    if (pending.current?.body !== json) {
      pending.current = { body: json, attempt: shop.orders.checkoutAttempt(body) };
    }
    const { attempt } = pending.current;
    setBusy(true);
    try {
      const order = await attempt.submit();
      pending.current = null;
      await refreshCartCount();
      navigate(`/orders/${order.id}?placed=1`);
    } catch (err) {
      const retryable = !(err instanceof ProblemError) || err.status >= 500;
      if (!retryable) pending.current = null;
      if (err instanceof ProblemError && err.status === 422 && err.errors.length > 0) {
        setFieldErrors(
          Object.fromEntries(err.errors.map((e) => [e.field.replace(/^shipping_address\./, ''), e.message])),
        );
      }
      setError(checkoutMessage(err, c));
      if (err instanceof ProblemError && err.status === 409) cart.reload();
    } finally {
      setBusy(false);
    }
  };

  const field = (key: 'name' | 'line1' | 'line2' | 'city' | 'postal_code', label: string, autocomplete: string, required = true) => (
    <div class="field">
      <label for={`ship-${key}`}>{label}</label>
      <input
        id={`ship-${key}`}
        value={form[key]}
        onInput={set(key)}
        required={required}
        autocomplete={autocomplete}
        aria-invalid={fieldErrors[key] ? 'true' : undefined}
        aria-describedby={fieldErrors[key] ? `ship-${key}-error` : undefined}
      />
      {fieldErrors[key] && (
        <span id={`ship-${key}-error`} class="field-error">
          {fieldErrors[key]}
        </span>
      )}
    </div>
  );

  return (
    <section class="content checkout">
      <h1>Checkout</h1>
      <div class="two-columns">
        <form onSubmit={placeOrder} aria-label="Checkout" noValidate={false}>
          <fieldset>
            <legend>Shipping address</legend>
            {field('name', 'Full name', 'name')}
            {field('line1', 'Address line 1', 'address-line1')}
            {field('line2', 'Address line 2 (optional)', 'address-line2', false)}
            <div class="row">
              {field('postal_code', 'Postal code', 'postal-code')}
              {field('city', 'City', 'address-level2')}
            </div>
            <div class="field">
              <label for="ship-country">Country</label>
              <select id="ship-country" value={form.country} onChange={set('country')} autocomplete="country">
                {COUNTRIES.map(([code, name]) => (
                  <option key={code} value={code}>
                    {name}
                  </option>
                ))}
              </select>
            </div>
          </fieldset>
          <fieldset>
            <legend>Payment</legend>
            {CARDS.map(([token, label]) => (
              <label key={token} class="radio">
                <input type="radio" name="card" value={token} checked={form.card === token} onChange={set('card')} />
                {label}
              </label>
            ))}
          </fieldset>
          {error && (
            <p role="alert" class="notice error">
              {error}
            </p>
          )}
          <button type="submit" class="primary" disabled={busy}>
            Place order
          </button>
          {busy && (
            <span role="status" class="muted">
              {' '}
              Placing your order…
            </span>
          )}
        </form>
        <aside class="summary" aria-label="Order summary">
          <h2>Order summary</h2>
          <ul>
            {c.items.map((item) => (
              <li key={item.product_id}>
                <span>
                  {item.quantity} × {item.name}
                </span>
                <span>{money(item.line_total_cents, item.currency)}</span>
              </li>
            ))}
          </ul>
          <dl class="totals">
            <dt>Subtotal</dt>
            <dd>{money(c.subtotal_cents, c.currency)}</dd>
            <dt>Total</dt>
            <dd>
              <strong>{money(c.subtotal_cents, c.currency)}</strong>
            </dd>
          </dl>
          <Link href="/cart">Edit cart</Link>
        </aside>
      </div>
    </section>
  );
}
