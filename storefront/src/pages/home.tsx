import type { Category, Product } from '@shop/sdk';
import { useEffect, useState } from 'preact/hooks';

import { shop } from '../api';
import { ErrorBox } from '../app';
import { Link, useLoad, useTitle } from '../router';
import { Loading, ProductCard } from './common';

const PAGE_SIZE = 12;

/** Categories and a paginated product listing (all products, or one category's). */
export function HomePage({ slug }: { slug?: string }) {
  const categories = useLoad(() => shop.catalog.categories(), []);
  const category = slug ? categories.data?.find((c) => c.slug === slug) : undefined;
  useTitle(category ? category.name : slug ? 'Category' : '');

  return (
    <div class="with-sidebar">
      <aside aria-label="Categories" class="sidebar">
        <h2>Categories</h2>
        {categories.error ? (
          <ErrorBox error={categories.error} retry={categories.reload} />
        ) : categories.data ? (
          <CategoryTree categories={categories.data} current={slug} />
        ) : (
          <Loading what="categories" />
        )}
      </aside>
      <section class="content">
        <h1>{category ? category.name : slug ? 'Category' : 'All products'}</h1>
        {category?.description && <p class="lead">{category.description}</p>}
        {slug && categories.data && !category ? (
          <p>No such category.</p>
        ) : slug && !category ? (
          <Loading what="products" />
        ) : (
          <Listing key={category?.id ?? 'all'} categoryId={category?.id} />
        )}
      </section>
    </div>
  );
}

function CategoryTree({ categories, current }: { categories: Category[]; current: string | undefined }) {
  const roots = categories.filter((c) => !c.parent_id);
  const children = (id: string) => categories.filter((c) => c.parent_id === id);
  const item = (c: Category) => (
    <li key={c.id}>
      <Link href={`/c/${c.slug}`} aria-current={c.slug === current ? 'page' : undefined}>
        {c.name}
      </Link>
      {children(c.id).length > 0 && <ul>{children(c.id).map(item)}</ul>}
    </li>
  );
  return (
    <ul class="tree">
      <li>
        <Link href="/" aria-current={current ? undefined : 'page'}>
          All products
        </Link>
      </li>
      {roots.map(item)}
    </ul>
  );
}

/** Products page by page: "More products" follows the cursor. */
function Listing({ categoryId }: { categoryId: string | undefined }) {
  const [items, setItems] = useState<Product[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(false);

  const load = async (from: string | undefined) => {
    setLoading(true);
    setError(undefined);
    try {
      const page = await shop.catalog.products({
        limit: PAGE_SIZE,
        ...(categoryId ? { category_id: categoryId } : {}),
        ...(from ? { cursor: from } : {}),
      });
      setItems((previous) => (from ? [...previous, ...page.items] : page.items));
      setCursor(page.next_cursor ?? null);
    } catch (err) {
      setError(err);
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    void load(undefined);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [categoryId]);

  return (
    <>
      {items.length > 0 && (
        <ul class="grid" aria-label="Products">
          {items.map((p) => (
            <ProductCard key={p.id} product={p} />
          ))}
        </ul>
      )}
      {!loading && !error && items.length === 0 && cursor !== undefined && <p>No products here yet.</p>}
      {error !== undefined && <ErrorBox error={error} retry={() => void load(cursor ?? undefined)} />}
      {loading && <Loading what="products" />}
      {cursor && !loading && (
        <button type="button" class="more" onClick={() => void load(cursor)}>
          More products
        </button>
      )}
    </>
  );
}
