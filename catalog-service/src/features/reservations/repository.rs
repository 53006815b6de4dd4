//! Reservation and restock SQL. Every path that changes stock locks the
//! product rows first, one statement, sorted by product id: concurrent
//! multi-item reservations then always lock in the same order and cannot
//! deadlock.

use sqlx::PgConnection;
use std::collections::BTreeMap;
use uuid::Uuid;

use super::models::{ReservationRow, ReservationStatus, ReservedItem, StockRow};

/// Creates the reservation header; false when the id already exists (a
/// concurrent first request with the same id is waited for).
#[tracing::instrument(skip_all)]
pub async fn insert_reservation(
    conn: &mut PgConnection,
    reservation_id: Uuid,
    ttl_seconds: u32,
    created_by: &str,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "insert into reservations (reservation_id, expires_at, created_by)
         values ($1, now() + make_interval(secs => $2), $3)
         on conflict (reservation_id) do nothing",
        reservation_id,
        f64::from(ttl_seconds),
        created_by,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// The reservation header, locked until the transaction ends.
#[tracing::instrument(skip_all)]
pub async fn lock_reservation(
    conn: &mut PgConnection,
    reservation_id: Uuid,
) -> sqlx::Result<Option<ReservationRow>> {
    sqlx::query_as!(
        ReservationRow,
        r#"select reservation_id, status as "status: ReservationStatus", expires_at from reservations
         where reservation_id = $1 for update"#,
        reservation_id,
    )
    .fetch_optional(conn)
    .await
}

/// The lines of a reservation, by product id.
#[tracing::instrument(skip_all)]
pub async fn items(
    conn: &mut PgConnection,
    reservation_id: Uuid,
) -> sqlx::Result<Vec<ReservedItem>> {
    sqlx::query_as!(
        ReservedItem,
        "select product_id, quantity, unit_price_cents, currency, name
         from reservation_items where reservation_id = $1 order by product_id",
        reservation_id,
    )
    .fetch_all(conn)
    .await
}

/// Locks the products named (sorted by id, the one lock order of the
/// service) and returns what a reservation needs of them. Deleted products
/// are returned too, as not active.
#[tracing::instrument(skip_all)]
pub async fn lock_products(
    conn: &mut PgConnection,
    sorted_ids: &[Uuid],
) -> sqlx::Result<Vec<StockRow>> {
    sqlx::query_as!(
        StockRow,
        r#"select product_id, name, price_cents, currency, active, on_hand - reserved as "available!"
         from products where product_id = any($1)
         order by product_id
         for update"#,
        sorted_ids,
    )
    .fetch_all(conn)
    .await
}

/// What a reservation does to the stock of its (locked) products.
#[derive(Debug, Clone, Copy)]
pub enum StockMovement {
    /// Hold units: reserve.
    Hold,
    /// Return held units to available: release, expiry.
    Return,
    /// Held units leave the warehouse for good: commit.
    Ship,
}

/// Applies `movement` to `quantities` (product -> units) of locked products,
/// in one statement.
#[tracing::instrument(skip_all, fields(movement = ?movement))]
pub async fn move_stock(
    conn: &mut PgConnection,
    movement: StockMovement,
    quantities: &BTreeMap<Uuid, i32>,
) -> sqlx::Result<()> {
    let (ids, qty): (Vec<Uuid>, Vec<i32>) = quantities.iter().map(|(k, v)| (*k, *v)).unzip();
    // One fixed statement per movement, each checked at compile time.
    let query = match movement {
        StockMovement::Hold => sqlx::query!(
            "update products p set reserved = p.reserved + l.quantity
             from unnest($1::uuid[], $2::int4[]) as l(product_id, quantity)
             where p.product_id = l.product_id",
            &ids,
            &qty,
        ),
        StockMovement::Return => sqlx::query!(
            "update products p set reserved = p.reserved - l.quantity
             from unnest($1::uuid[], $2::int4[]) as l(product_id, quantity)
             where p.product_id = l.product_id",
            &ids,
            &qty,
        ),
        StockMovement::Ship => sqlx::query!(
            "update products p
             set reserved = p.reserved - l.quantity, on_hand = p.on_hand - l.quantity
             from unnest($1::uuid[], $2::int4[]) as l(product_id, quantity)
             where p.product_id = l.product_id",
            &ids,
            &qty,
        ),
    };
    query.execute(conn).await.map(|_| ())
}

/// Records the lines of a new reservation.
#[tracing::instrument(skip_all)]
pub async fn insert_items(
    conn: &mut PgConnection,
    reservation_id: Uuid,
    items: &[ReservedItem],
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = items.iter().map(|i| i.product_id).collect();
    let quantities: Vec<i32> = items.iter().map(|i| i.quantity).collect();
    let prices: Vec<i64> = items.iter().map(|i| i.unit_price_cents).collect();
    let currencies: Vec<&str> = items.iter().map(|i| i.currency.as_str()).collect();
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    sqlx::query!(
        "insert into reservation_items
             (reservation_id, product_id, quantity, unit_price_cents, currency, name)
         select $1, * from unnest($2::uuid[], $3::int4[], $4::int8[], $5::text[], $6::text[])",
        reservation_id,
        &ids,
        &quantities,
        &prices,
        &currencies as &[&str],
        &names as &[&str],
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Moves a reservation to `status` (`committed`, `released`, `expired`).
#[tracing::instrument(skip_all)]
pub async fn set_status(
    conn: &mut PgConnection,
    reservation_id: Uuid,
    status: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update reservations set status = $2, updated_at = now() where reservation_id = $1",
        reservation_id,
        status,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Locks up to `limit` active reservations past their expiry, skipping
/// those another transaction (a commit, another replica's sweeper) holds.
#[tracing::instrument(skip_all)]
pub async fn lock_expired(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select reservation_id from reservations
         where status = 'active' and expires_at <= now()
         order by expires_at
         limit $1
         for update skip locked",
        limit,
    )
    .fetch_all(conn)
    .await
}

/// The units held by `reservation_ids`, summed per product.
#[tracing::instrument(skip_all)]
pub async fn held_units(
    conn: &mut PgConnection,
    reservation_ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, i64)>> {
    sqlx::query!(
        r#"select product_id, sum(quantity)::int8 as "units!" from reservation_items
         where reservation_id = any($1) group by product_id order by product_id"#,
        reservation_ids,
    )
    .map(|row| (row.product_id, row.units))
    .fetch_all(conn)
    .await
}

/// Marks the reservations expired.
#[tracing::instrument(skip_all)]
pub async fn mark_expired(conn: &mut PgConnection, reservation_ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query!(
        "update reservations set status = 'expired', updated_at = now()
         where reservation_id = any($1)",
        reservation_ids,
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Records a restock reference; false when it was already recorded.
#[tracing::instrument(skip_all)]
pub async fn insert_restock(
    conn: &mut PgConnection,
    reference_id: Uuid,
    created_by: &str,
) -> sqlx::Result<bool> {
    sqlx::query!(
        "insert into restocks (reference_id, created_by) values ($1, $2)
         on conflict (reference_id) do nothing",
        reference_id,
        created_by,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// The lines of a recorded restock.
#[tracing::instrument(skip_all)]
pub async fn restock_items(
    conn: &mut PgConnection,
    reference_id: Uuid,
) -> sqlx::Result<Vec<(Uuid, i32)>> {
    sqlx::query!(
        "select product_id, quantity from restock_items where reference_id = $1 order by product_id",
        reference_id,
    )
    .map(|row| (row.product_id, row.quantity))
    .fetch_all(conn)
    .await
}

/// Puts units back on hand, records the restock's lines and the audit trail.
#[tracing::instrument(skip_all)]
pub async fn apply_restock(
    conn: &mut PgConnection,
    reference_id: Uuid,
    quantities: &BTreeMap<Uuid, i32>,
    actor: &str,
) -> sqlx::Result<()> {
    let (ids, qty): (Vec<Uuid>, Vec<i32>) = quantities.iter().map(|(k, v)| (*k, *v)).unzip();
    let adjustment_ids: Vec<Uuid> = ids.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query!(
        "with lines as (
             select * from unnest($2::uuid[], $3::int4[], $4::uuid[]) as l(product_id, quantity, adjustment_id)
         ), restocked as (
             update products p set on_hand = p.on_hand + l.quantity
             from lines l where p.product_id = l.product_id
             returning p.product_id, p.on_hand
         ), recorded as (
             insert into restock_items (reference_id, product_id, quantity)
             select $1, product_id, quantity from lines
         )
         insert into inventory_adjustments
             (adjustment_id, product_id, delta, reason, actor_id, actor, on_hand_after)
         select l.adjustment_id, l.product_id, l.quantity, 'restock ' || $1::text, null, $5, r.on_hand
         from lines l join restocked r using (product_id)",
        reference_id,
        &ids,
        &qty,
        &adjustment_ids,
        actor,
    )
    .execute(conn)
    .await
    .map(|_| ())
}
