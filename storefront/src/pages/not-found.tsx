import { Link, useTitle } from '../router';

export function NotFoundPage() {
  useTitle('Not found');
  return (
    <section class="content narrow">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <Link href="/">Go to the shop</Link>.
      </p>
    </section>
  );
}
