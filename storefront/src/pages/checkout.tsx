import { type Attempt, type Cart, type CheckoutRequest, type Order, ProblemError, type ShippingMethod } from '@shop/sdk';
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

/** What the shopper is told when a discount code was refused. */
function discountMessage(err: unknown): string {
  if (err instanceof ProblemError && err.status === 422) {
    // The problem names why on the field `code` ("is not a valid discount code").
    const why = err.errors.find((e) => e.field === 'code');
    if (why) return `This code ${why.message}.`;
    if (err.errors.length === 0) return err.detail ?? err.title;
  }
  return describeError(err);
}

/** The cheapest of `methods` (the first of equals), or null. */
function cheapest(methods: ShippingMethod[]): ShippingMethod | null {
  return methods.reduce<ShippingMethod | null>((best, m) => (best === null || m.price_cents < best.price_cents ? m : best), null);
}

function delivery(method: ShippingMethod): string {
  const days = method.min_days === method.max_days ? `${method.max_days}` : `${method.min_days}-${method.max_days}`;
  const free = method.free_over_cents != null ? `, free from ${money(method.free_over_cents, method.currency)}` : '';
  return `${money(method.price_cents, method.currency)}, ${days} business days${free}`;
}

/** Shipping address, shipping method, discount code, payment, place the order. */
export function CheckoutPage() {
  useTitle('Checkout');
  const signedIn = requireSignIn('/checkout');
  const [form, setForm] = useState({
    name: '',
    line1: '',
    line2: '',
    city: '',
    postal_code: '',
    country: 'DE',
    card: 'tok_visa',
  });
  // The methods that ship to the chosen country; the shopper's pick among
  // them (for that country), else the cheapest.
  const methods = useLoad(async () => {
    const country = form.country;
    return { country, items: signedIn ? await shop.shipping.methods(country) : [] };
  }, [signedIn, form.country]);
  const [picked, setPicked] = useState<{ country: string; id: string } | null>(null);
  const offered = !methods.loading && methods.data?.country === form.country ? methods.data.items : undefined;
  const method =
    offered === undefined
      ? undefined
      : (offered.find((m) => picked?.country === form.country && m.id === picked.id) ?? cheapest(offered));
  // The cart, quoted for that country and method as checkout will charge it
  // (asked for once the methods are known).
  const cart = useLoad(
    () =>
      !signedIn
        ? Promise.resolve(undefined)
        : method === undefined
          ? new Promise<Cart>(() => {})
          : shop.cart.get({ country: form.country, ...(method ? { shipping_method_id: method.id } : {}) }),
    [signedIn, form.country, method?.id ?? method],
  );
  const [code, setCode] = useState('');
  const [discountError, setDiscountError] = useState<string | null>(null);
  const [discountBusy, setDiscountBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  // The attempt being retried: reused while the request is the same and its
  // last outcome was not final (a 503 or no answer), so a retry is never a
  // second charge.
  const pending = useRef<{ body: string; attempt: Attempt<Order> } | null>(null);

  if (!signedIn) return null;
  if (methods.error) return <ErrorBox error={methods.error} retry={methods.reload} />;
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
      ...(method ? { shipping_method_id: method.id } : {}),
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
      // Stock, a method or a code may have changed since the quote.
      if (err instanceof ProblemError && (err.status === 409 || err.status === 422)) {
        cart.reload();
        methods.reload();
      }
    } finally {
      setBusy(false);
    }
  };

  const applyDiscount = async () => {
    setDiscountError(null);
    if (!code.trim()) {
      setDiscountError('Enter a discount code.');
      return;
    }
    setDiscountBusy(true);
    try {
      await shop.cart.applyDiscount(code.trim());
      setCode('');
      cart.reload();
    } catch (err) {
      setDiscountError(discountMessage(err));
    } finally {
      setDiscountBusy(false);
    }
  };

  const removeDiscount = async () => {
    setDiscountError(null);
    setDiscountBusy(true);
    try {
      await shop.cart.removeDiscount();
      cart.reload();
    } catch (err) {
      setDiscountError(describeError(err));
    } finally {
      setDiscountBusy(false);
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
            <legend>Shipping method</legend>
            {offered === undefined ? (
              <Loading what="shipping methods" />
            ) : offered.length === 0 ? (
              <p class="muted">We have no shipping options to this country: shipping is free.</p>
            ) : (
              offered.map((m) => (
                <label key={m.id} class="radio">
                  <input
                    type="radio"
                    name="shipping-method"
                    value={m.id}
                    checked={method?.id === m.id}
                    onChange={() => setPicked({ country: form.country, id: m.id })}
                  />
                  <span>
                    <strong>{m.name}</strong> <span class="muted">({delivery(m)})</span>
                  </span>
                </label>
              ))
            )}
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
          <button type="submit" class="primary" disabled={busy || offered === undefined}>
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
          <dl class="totals" aria-busy={cart.loading ? 'true' : undefined}>
            <dt>Subtotal</dt>
            <dd>{money(c.subtotal_cents, c.currency)}</dd>
            {c.discount_cents > 0 && (
              <>
                <dt>Discount{c.discount ? ` (${c.discount.code})` : ''}</dt>
                <dd>−{money(c.discount_cents, c.currency)}</dd>
              </>
            )}
            <dt>Shipping{method ? ` (${method.name})` : ''}</dt>
            <dd>{c.shipping_cents === 0 ? 'Free' : money(c.shipping_cents, c.currency)}</dd>
            <dt>Tax</dt>
            <dd>{money(c.tax_cents, c.currency)}</dd>
            <dt>Total</dt>
            <dd>
              <strong>{money(c.total_cents, c.currency)}</strong>
            </dd>
          </dl>
          <form
            class="discount"
            aria-label="Discount code"
            onSubmit={(e) => {
              e.preventDefault();
              void applyDiscount();
            }}
          >
            {c.discount ? (
              <p>
                Code <strong>{c.discount.code}</strong>
                {c.discount.applicable ? ' applied.' : ' does not apply to this cart as it is.'}{' '}
                <button type="button" onClick={removeDiscount} disabled={discountBusy}>
                  Remove code
                </button>
              </p>
            ) : (
              <div class="field">
                <label for="discount-code">Discount code</label>
                <div class="row">
                  <input
                    id="discount-code"
                    value={code}
                    onInput={(e) => setCode((e.currentTarget as HTMLInputElement).value)}
                    autocomplete="off"
                    aria-invalid={discountError ? 'true' : undefined}
                    aria-describedby={discountError ? 'discount-code-error' : undefined}
                  />
                  <button type="submit" disabled={discountBusy}>
                    Apply
                  </button>
                </div>
              </div>
            )}
            {discountError && (
              <p id="discount-code-error" role="alert" class="field-error">
                {discountError}
              </p>
            )}
          </form>
          <Link href="/cart">Edit cart</Link>
        </aside>
      </div>
    </section>
  );
}
