import { ProblemError } from '@shop/sdk';
import { useState } from 'preact/hooks';

import { describeError, shop } from '../api';
import { ErrorBox, requireSignIn } from '../app';
import { money, when } from '../format';
import { Link, useLoad, useLocation, useTitle } from '../router';
import { Loading } from './common';
import { StatusBadge } from './orders';

/** One order: lines, address, payment, and "Cancel order" while it is confirmed. */
export function OrderPage({ id }: { id: string }) {
  useTitle('Order');
  const signedIn = requireSignIn(`/orders/${id}`);
  const { query } = useLocation();
  const placed = query.get('placed') === '1';
  const order = useLoad(() => (signedIn ? shop.orders.get(id) : Promise.resolve(undefined)), [id, signedIn]);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  if (!signedIn) return null;
  if (order.error) {
    if (order.error instanceof ProblemError && order.error.status === 404) {
      return (
        <section class="content narrow">
          <h1>Order not found</h1>
          <p>
            There is no such order in your account. <Link href="/orders">Your orders</Link>
          </p>
        </section>
      );
    }
    return <ErrorBox error={order.error} retry={order.reload} />;
  }
  if (!order.data) return <Loading what="the order" />;
  const o = order.data;

  const cancel = async () => {
    if (!window.confirm('Cancel this order? You will be refunded in full.')) return;
    setBusy(true);
    setMessage(null);
    try {
      order.setData(await shop.orders.cancel(o.id));
      setMessage({ kind: 'ok', text: 'Your order was cancelled and refunded.' });
    } catch (err) {
      setMessage({
        kind: 'error',
        text:
          err instanceof ProblemError && err.status === 409
            ? 'This order can no longer be cancelled.'
            : describeError(err),
      });
    } finally {
      setBusy(false);
    }
  };

  const a = o.shipping_address;
  return (
    <section class="content narrow">
      {placed && o.status === 'confirmed' && (
        <div class="notice ok confirmation" role="status">
          <h2>Thank you!</h2>
          <p>
            Your order <strong data-testid="order-id">{o.id}</strong> is confirmed. A confirmation mail is on its
            way.
          </p>
        </div>
      )}
      <h1>
        Order <span class="mono">{o.id}</span>
      </h1>
      <p>
        <StatusBadge status={o.status} /> · placed {when(o.created_at)}
      </p>
      {message && (
        <p role={message.kind === 'error' ? 'alert' : 'status'} class={`notice ${message.kind}`}>
          {message.text}
        </p>
      )}
      <table class="lines">
        <caption class="visually-hidden">Items of this order</caption>
        <thead>
          <tr>
            <th scope="col">Product</th>
            <th scope="col">Price</th>
            <th scope="col">Quantity</th>
            <th scope="col">Total</th>
          </tr>
        </thead>
        <tbody>
          {o.items.map((item) => (
            <tr key={item.product_id}>
              <td>
                <Link href={`/p/${item.product_id}`}>{item.name}</Link>
              </td>
              <td>{money(item.unit_price_cents, o.currency)}</td>
              <td>{item.quantity}</td>
              <td>{money(item.line_total_cents, o.currency)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <dl class="totals">
        <dt>Subtotal</dt>
        <dd>{money(o.subtotal_cents, o.currency)}</dd>
        {o.discount_cents > 0 && (
          <>
            <dt>Discount{o.discount ? ` (${o.discount.code})` : ''}</dt>
            <dd>−{money(o.discount_cents, o.currency)}</dd>
          </>
        )}
        <dt>Shipping{o.shipping_method ? ` (${o.shipping_method.name})` : ''}</dt>
        <dd>{o.shipping_cents === 0 ? 'Free' : money(o.shipping_cents, o.currency)}</dd>
        <dt>Tax</dt>
        <dd>{money(o.tax_cents, o.currency)}</dd>
        <dt>Total</dt>
        <dd>
          <strong>{money(o.total_cents, o.currency)}</strong>
        </dd>
        {o.refund_cents != null && (
          <>
            <dt>Refunded</dt>
            <dd>{money(o.refund_cents, o.currency)}</dd>
          </>
        )}
      </dl>
      <div class="two-columns">
        <div>
          <h2>Shipping to</h2>
          <address>
            {a.name}
            <br />
            {a.line1}
            <br />
            {a.line2 && (
              <>
                {a.line2}
                <br />
              </>
            )}
            {a.postal_code} {a.city}
            <br />
            {a.country}
          </address>
        </div>
        <div>
          <h2>Payment</h2>
          <p>
            Card · {o.payment.status}
            {o.payment.provider_ref ? ` · ref ${o.payment.provider_ref}` : ''}
          </p>
        </div>
      </div>
      <p class="actions">
        {o.status === 'confirmed' && (
          <button type="button" class="danger" onClick={cancel} disabled={busy}>
            Cancel order
          </button>
        )}
        <Link href="/orders">All your orders</Link>
      </p>
    </section>
  );
}
