import type { Product } from '@shop/sdk';
import { useEffect, useState } from 'preact/hooks';

import { shop } from '../api';
import { ErrorBox } from '../app';
import { useLocation, useTitle } from '../router';
import { Loading, ProductCard } from './common';

/** Search results (typo-tolerant, ranked by relevance), with "More results". */
export function SearchPage() {
  const { query } = useLocation();
  const q = (query.get('q') ?? '').trim();
  useTitle(q ? `“${q}”` : 'Search');
  const [items, setItems] = useState<Product[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(false);

  const load = async (from: string | null) => {
    setLoading(true);
    setError(undefined);
    try {
      const page = await shop.catalog.products({ q, limit: 12, ...(from ? { cursor: from } : {}) });
      setItems((previous) => (from ? [...previous, ...page.items] : page.items));
      setCursor(page.next_cursor ?? null);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    setItems([]);
    if (q) void load(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [q]);

  return (
    <section class="content">
      <h1>{q ? <>Results for “{q}”</> : 'Search'}</h1>
      {!q && <p>Type what you are looking for in the search box above.</p>}
      {items.length > 0 && (
        <ul class="grid" aria-label="Search results">
          {items.map((p) => (
            <ProductCard key={p.id} product={p} />
          ))}
        </ul>
      )}
      {q && !loading && !error && items.length === 0 && <p>Nothing matches “{q}”. Try another word.</p>}
      {error !== undefined && <ErrorBox error={error} retry={() => void load(null)} />}
      {loading && <Loading what="results" />}
      {cursor && !loading && (
        <button type="button" class="more" onClick={() => void load(cursor)}>
          More results
        </button>
      )}
    </section>
  );
}
