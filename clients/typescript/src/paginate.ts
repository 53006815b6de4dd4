/** A page of a cursor-paginated list (`{items, next_cursor}`). */
export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/**
 * Walks a cursor-paginated list: calls `fetchPage` with `undefined`, then
 * with each `next_cursor`, yielding every item until a page has no next
 * cursor. Pages are fetched lazily, one at a time, as the loop consumes them:
 * `break` stops fetching.
 *
 * ```ts
 * for await (const product of paginate((cursor) => shop.catalog.products({ q: 'lamp', cursor }))) { ... }
 * ```
 */
export async function* paginate<T>(
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined;
  const seen = new Set<string>();
  for (;;) {
    const page = await fetchPage(cursor);
    yield* page.items;
    const next = page.next_cursor ?? undefined;
    if (!next) return;
    // A server that hands back a cursor twice would loop forever.
    if (seen.has(next)) throw new Error(`pagination cursor repeated: ${next}`);
    seen.add(next);
    cursor = next;
  }
}
