/** Minor units as money: 2499 EUR is "€24.99". */
export function money(minor: number, currency: string | null | undefined): string {
  const code = currency ?? 'EUR';
  try {
    const format = new Intl.NumberFormat('en-GB', { style: 'currency', currency: code });
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(minor / 10 ** digits);
  } catch {
    return `${(minor / 100).toFixed(2)} ${code}`;
  }
}

/** A timestamp as a short local date and time. */
export function when(iso: string): string {
  return new Date(iso).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

/** The first 8 characters of an id, for compact lists. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}
