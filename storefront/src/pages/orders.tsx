import type { Order } from '@shop/sdk';
import { useEffect, useState } from 'preact/hooks';

import { shop } from '../api';
import { ErrorBox, requireSignIn } from '../app';
import { money, shortId, when } from '../format';
import { Link, useTitle } from '../router';
import { Loading } from './common';

export function StatusBadge({ status }: { status: string }) {
  return <span class={`status status-${status}`}>{status.replace('_', ' ')}</span>;
}

/** The shopper's orders, newest first, page by page. */
export function OrdersPage() {
  useTitle('Orders');
  const signedIn = requireSignIn('/orders');
  const [orders, setOrders] = useState<Order[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(false);

  const load = async (from: string | undefined) => {
    setLoading(true);
    setError(undefined);
    try {
      const page = await shop.orders.list({ limit: 10, ...(from ? { cursor: from } : {}) });
      setOrders((previous) => (from ? [...previous, ...page.items] : page.items));
      setCursor(page.next_cursor ?? null);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    if (signedIn) void load(undefined);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [signedIn]);

  if (!signedIn) return null;
  return (
    <section class="content narrow">
      <h1>Your orders</h1>
      {orders.length > 0 && (
        <table class="lines">
          <caption class="visually-hidden">Your orders, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Order</th>
              <th scope="col">Placed</th>
              <th scope="col">Items</th>
              <th scope="col">Total</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {orders.map((o) => (
              <tr key={o.id}>
                <td>
                  <Link href={`/orders/${o.id}`} aria-label={`Order ${o.id}`}>
                    #{shortId(o.id)}
                  </Link>
                </td>
                <td>{when(o.created_at)}</td>
                <td>{o.items.reduce((n, i) => n + i.quantity, 0)}</td>
                <td>{money(o.total_cents, o.currency)}</td>
                <td>
                  <StatusBadge status={o.status} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {!loading && !error && orders.length === 0 && cursor !== undefined && (
        <p>
          You have no orders yet. <Link href="/">Start shopping</Link>.
        </p>
      )}
      {error !== undefined && <ErrorBox error={error} retry={() => void load(cursor ?? undefined)} />}
      {loading && <Loading what="your orders" />}
      {cursor && !loading && (
        <button type="button" class="more" onClick={() => void load(cursor)}>
          More orders
        </button>
      )}
    </section>
  );
}
