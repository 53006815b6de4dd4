import type { Product } from '@shop/sdk';

import { money } from '../format';
import { Link } from '../router';

/** A product tile of a listing. */
export function ProductCard({ product }: { product: Product }) {
  return (
    <li class="card">
      <Link href={`/p/${product.id}`} class="card-link">
        <div class="thumb" aria-hidden="true">
          {product.name.slice(0, 1)}
        </div>
        <span class="card-name">{product.name}</span>
      </Link>
      <span class="price">{money(product.price_cents, product.currency)}</span>
      <Availability available={product.available} />
    </li>
  );
}

export function Availability({ available }: { available: number }) {
  if (available <= 0) return <span class="stock out">Out of stock</span>;
  if (available < 5) return <span class="stock low">Only {available} left</span>;
  return <span class="stock in">In stock</span>;
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status">
      Loading {what}…
    </p>
  );
}
