/**
 * Named types of the public API, derived from the generated `paths` (not
 * from component names, which the merged document may prefix to resolve
 * clashes between services).
 */
import type { paths } from './schema.js';

type Method = 'get' | 'put' | 'post' | 'delete' | 'patch';
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : never;

/** The JSON body of response `S` of `M P`. */
export type ResponseBody<P extends keyof paths, M extends Method, S extends number = 200> =
  Operation<P, M> extends { responses: infer R } ? (S extends keyof R ? JsonOf<R[S]> : never) : never;

/** The JSON request body of `M P`. */
export type RequestBody<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { requestBody?: infer B } ? JsonOf<NonNullable<B>> : never;

/** The query parameters of `M P`. */
export type QueryOf<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** An account (`GET /api/v1/users/me`). */
export type User = ResponseBody<'/api/v1/users/me', 'get'>;
/** `POST /api/v1/auth/register` body. */
export type RegisterRequest = RequestBody<'/api/v1/auth/register', 'post'>;
/** `PATCH /api/v1/users/me` body. */
export type ProfilePatch = RequestBody<'/api/v1/users/me', 'patch'>;
/** Login and refresh answer. */
export type TokenPair = ResponseBody<'/api/v1/auth/login', 'post'>;
/** Language, currency, time zone, marketing opt-in. */
export type AccountPreferences = ResponseBody<'/api/v1/users/me/preferences', 'get'>;

/** A category of the tree. */
export type Category = ResponseBody<'/api/v1/categories', 'get'>['items'][number];
/** A product. */
export type Product = ResponseBody<'/api/v1/products/{id}', 'get'>;
/** Filters, sort and paging of `GET /api/v1/products`. */
export type ProductQuery = QueryOf<'/api/v1/products', 'get'>;
/** A page of products. */
export type ProductPage = ResponseBody<'/api/v1/products', 'get'>;
/** A product's stock. */
export type Inventory = ResponseBody<'/api/v1/products/{id}/inventory', 'get'>;

/** The cart, priced with the catalog's current prices. */
export type Cart = ResponseBody<'/api/v1/cart', 'get'>;
/** Destination and shipping method a cart is quoted for (`GET /api/v1/cart`). */
export type CartQuote = QueryOf<'/api/v1/cart', 'get'>;
/** A discount code applied to the cart. */
export type CartDiscount = NonNullable<Cart['discount']>;
/** A shipping method offered to customers. */
export type ShippingMethod = ResponseBody<'/api/v1/shipping-methods', 'get'>['items'][number];
/** A line of the cart. */
export type CartItem = Cart['items'][number];
/** `POST /api/v1/checkout` body. */
export type CheckoutRequest = RequestBody<'/api/v1/checkout', 'post'>;
/** Where to ship. */
export type ShippingAddress = CheckoutRequest['shipping_address'];
/** An order. */
export type Order = ResponseBody<'/api/v1/orders/{id}', 'get'>;
/** Filters and paging of `GET /api/v1/orders`. */
export type OrderQuery = QueryOf<'/api/v1/orders', 'get'>;
/** A page of orders. */
export type OrderPage = ResponseBody<'/api/v1/orders', 'get'>;

/** Email, SMS, push and marketing switches. */
export type NotificationPreferences = ResponseBody<'/api/v1/notification-preferences', 'get'>;
/** A page of the caller's notification history. */
export type NotificationPage = ResponseBody<'/api/v1/notifications', 'get'>;
/** One delivery of the caller's notification history. */
export type NotificationItem = NotificationPage['items'][number];
