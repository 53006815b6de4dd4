import { useState } from 'preact/hooks';

import { describeError, shop } from '../api';
import { ErrorBox, refreshCartCount } from '../app';
import { money } from '../format';
import { Link, navigate, useLoad, useTitle } from '../router';
import { session } from '../store';
import { Availability, Loading } from './common';

/** One product: description, price, live availability, add to cart. */
export function ProductPage({ id }: { id: string }) {
  const product = useLoad(() => shop.catalog.product(id), [id]);
  const inventory = useLoad(() => shop.catalog.inventory(id), [id]);
  const [quantity, setQuantity] = useState(1);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  useTitle(product.data?.name ?? 'Product');

  if (product.error) return <ErrorBox error={product.error} retry={product.reload} />;
  if (!product.data) return <Loading what="the product" />;
  const p = product.data;
  const available = inventory.data?.available ?? p.available;

  const addToCart = async () => {
    if (!session.get().signedIn) {
      navigate(`/signin?next=${encodeURIComponent(`/p/${id}`)}`);
      return;
    }
    setBusy(true);
    setStatus(null);
    try {
      const cart = await shop.cart.add(id, quantity);
      const line = cart.items.find((i) => i.product_id === id);
      setStatus({ kind: 'ok', text: `Added to your cart (${line?.quantity ?? quantity} in cart).` });
      await refreshCartCount();
    } catch (err) {
      setStatus({ kind: 'error', text: describeError(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <article class="product">
      <nav aria-label="Breadcrumb" class="crumbs">
        <Link href="/">All products</Link> › <span>{p.name}</span>
      </nav>
      <div class="product-body">
        <div class="hero" aria-hidden="true">
          {p.name.slice(0, 1)}
        </div>
        <div>
          <h1>{p.name}</h1>
          <p class="price big">{money(p.price_cents, p.currency)}</p>
          <p>
            <Availability available={available} />
            {inventory.data && <span class="muted"> · {inventory.data.available} available</span>}
          </p>
          <p class="description">{p.description}</p>
          <p class="muted">SKU {p.sku}</p>
          <div class="buy">
            <label for="quantity">Quantity</label>
            <select
              id="quantity"
              value={String(quantity)}
              onChange={(e) => setQuantity(Number(e.currentTarget.value))}
              disabled={available <= 0}
            >
              {Array.from({ length: Math.max(1, Math.min(10, available)) }, (_, i) => (
                <option key={i} value={String(i + 1)}>
                  {i + 1}
                </option>
              ))}
            </select>
            <button type="button" class="primary" onClick={addToCart} disabled={busy || available <= 0}>
              Add to cart
            </button>
          </div>
          {status && (
            <p role={status.kind === 'error' ? 'alert' : 'status'} class={`notice ${status.kind}`}>
              {status.text} {status.kind === 'ok' && <Link href="/cart">Go to your cart</Link>}
            </p>
          )}
        </div>
      </div>
    </article>
  );
}
