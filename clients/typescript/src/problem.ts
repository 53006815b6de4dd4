/** One invalid field of a 422 validation failure. */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * An API error: the fleet's RFC 9457 `application/problem+json` body, with
 * the HTTP status. Every non-2xx answer of the SDK's calls is thrown as one
 * (network failures stay the `TypeError` that `fetch` throws).
 */
export class ProblemError extends Error {
  /** HTTP status code. */
  readonly status: number;
  /** A URI reference naming the kind of problem (`about:blank` when none). */
  readonly type: string;
  /** Short summary of the kind of problem. */
  readonly title: string;
  /** Explanation of this occurrence, safe to show to the user. */
  readonly detail: string | undefined;
  /** Invalid fields (validation failures), empty otherwise. */
  readonly errors: FieldError[];
  /** The request's correlation id (body `request_id` or the `X-Request-ID` header). */
  readonly request_id: string | undefined;
  /** Seconds to wait before retrying (429 and 503 with `Retry-After`). */
  readonly retryAfter: number | undefined;
  /** The whole body, for extension members (e.g. the short items of a 409). */
  readonly body: unknown;

  constructor(init: {
    status: number;
    type?: string;
    title?: string;
    detail?: string;
    errors?: FieldError[];
    request_id?: string;
    retryAfter?: number;
    body?: unknown;
  }) {
    const title = init.title ?? `HTTP ${init.status}`;
    super(init.detail ? `${title}: ${init.detail}` : title);
    this.name = 'ProblemError';
    this.status = init.status;
    this.type = init.type ?? 'about:blank';
    this.title = title;
    this.detail = init.detail;
    this.errors = init.errors ?? [];
    this.request_id = init.request_id;
    this.retryAfter = init.retryAfter;
    this.body = init.body;
  }

  /**
   * Builds the error of a non-2xx `response` whose body was already read
   * (`body`: parsed JSON, text, or undefined). A body that is not a problem
   * document (a proxy's HTML page, say) still gives a usable error.
   */
  static from(response: Response, body: unknown): ProblemError {
    const problem = isRecord(body) ? body : {};
    const text = typeof body === 'string' && body.trim() !== '' ? body.trim().slice(0, 200) : undefined;
    const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
    return new ProblemError({
      status: typeof problem.status === 'number' ? problem.status : response.status,
      type: str(problem.type),
      title: str(problem.title) ?? (response.statusText || undefined),
      detail: str(problem.detail) ?? text,
      errors: Array.isArray(problem.errors) ? problem.errors.filter(isFieldError) : [],
      request_id: str(problem.request_id) ?? response.headers.get('X-Request-ID') ?? undefined,
      retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined,
      body,
    });
  }

  /** Reads `response`'s body and builds its error. */
  static async fromResponse(response: Response): Promise<ProblemError> {
    let body: unknown;
    try {
      const text = await response.text();
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    } catch {
      body = undefined;
    }
    return ProblemError.from(response, body);
  }

  /** The message of the field named `field`, if it was invalid. */
  fieldError(field: string): string | undefined {
    return this.errors.find((e) => e.field === field)?.message;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function isFieldError(value: unknown): value is FieldError {
  return isRecord(value) && typeof value.field === 'string' && typeof value.message === 'string';
}
