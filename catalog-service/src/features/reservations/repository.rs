//! Reservation and restock SQL. Every path that changes stock locks the
//! product rows first, sorted by product id (in its own statement, or in a
//! CTE the stock update waits on): concurrent multi-item reservations then
//! always lock in the same order and cannot deadlock.
//!
//! The checkout's path: reserve is one statement, [`reserve`]; commit and
//! release are one statement each, [`end`].

use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::models::{ReservationRow, ReservationStatus, ReservedItem, StockRow};

/// What [`reserve`] did.
#[derive(Debug)]
pub struct Attempt {
    /// The new reservation's header; `None` when nothing was written: a
    /// line could not be reserved, or the id exists already (a concurrent
    /// first request with it is waited for).
    pub created: Option<ReservationRow>,
    /// The products named that exist, as locked (current stock, name and
    /// price), by id.
    pub rows: Vec<StockRow>,
}

/// Reserves in one statement, all or nothing: locks the products named
/// (sorted by id, the service's one lock order), and only when every line
/// is active with enough available stock creates the header, holds the
/// stock and records the lines with the locked names and prices.
/// `quantities` holds each product once, by id.
#[tracing::instrument(skip_all)]
pub async fn reserve(
    pool: &PgPool,
    reservation_id: Uuid,
    ttl_seconds: u32,
    created_by: &str,
    quantities: &BTreeMap<Uuid, i32>,
) -> sqlx::Result<Attempt> {
    let (ids, qty): (Vec<Uuid>, Vec<i32>) = quantities.iter().map(|(k, v)| (*k, *v)).unzip();
    let rows = sqlx::query!(
        r#"with wanted as (
             select * from unnest($4::uuid[], $5::int4[]) as w(product_id, quantity)
         ), locked as materialized (
             select product_id, name, price_cents, currency, active,
                    on_hand - reserved as available
             from products
             where product_id = any($4)
             order by product_id
             for update
         ), verdict as (
             select count(*) = cardinality($4::uuid[]) as sellable
             from wanted w join locked l using (product_id)
             where l.active and l.available >= w.quantity
         ), header as (
             insert into reservations (reservation_id, expires_at, created_by)
             select $1, now() + make_interval(secs => $2), $3
             where (select sellable from verdict)
             on conflict (reservation_id) do nothing
             returning reservation_id, status, expires_at
         ), moved as (
             update products p set reserved = p.reserved + w.quantity
             from wanted w
             where p.product_id = w.product_id and exists (select 1 from header)
         ), recorded as (
             insert into reservation_items
                 (reservation_id, product_id, quantity, unit_price_cents, currency, name)
             select $1, w.product_id, w.quantity, l.price_cents, l.currency, l.name
             from wanted w join locked l using (product_id)
             where exists (select 1 from header)
         )
         select h.reservation_id as "reservation_id?",
                h.status as "status?: ReservationStatus", h.expires_at as "expires_at?",
                l.product_id as "product_id?", l.name as "name?",
                l.price_cents as "price_cents?", l.currency as "currency?",
                l.active as "active?", l.available as "available?"
         from (select 1) one
         left join header h on true
         left join locked l on true
         order by l.product_id"#,
        reservation_id,
        f64::from(ttl_seconds),
        created_by,
        &ids,
        &qty,
    )
    .fetch_all(pool)
    .await?;
    let created = rows.first().and_then(|r| {
        Some(ReservationRow {
            reservation_id: r.reservation_id?,
            status: r.status?,
            expires_at: r.expires_at?,
        })
    });
    let rows = rows
        .into_iter()
        .filter_map(|r| {
            Some(StockRow {
                product_id: r.product_id?,
                name: r.name?,
                price_cents: r.price_cents?,
                currency: r.currency?,
                active: r.active?,
                available: r.available?,
            })
        })
        .collect();
    Ok(Attempt { created, rows })
}

/// The reservation header, locked until the transaction ends, and its lines
/// by product id: one round trip.
#[tracing::instrument(skip_all)]
pub async fn lock_with_items(
    conn: &mut PgConnection,
    reservation_id: Uuid,
) -> sqlx::Result<Option<(ReservationRow, Vec<ReservedItem>)>> {
    let rows = sqlx::query!(
        r#"select r.reservation_id, r.status as "status: ReservationStatus", r.expires_at,
                i.product_id as "product_id?", i.quantity as "quantity?",
                i.unit_price_cents as "unit_price_cents?", i.currency as "currency?",
                i.name as "name?"
         from reservations r
         left join reservation_items i on i.reservation_id = r.reservation_id
         where r.reservation_id = $1
         order by i.product_id
         for update of r"#,
        reservation_id,
    )
    .fetch_all(conn)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let header = ReservationRow {
        reservation_id: first.reservation_id,
        status: first.status,
        expires_at: first.expires_at,
    };
    let items = rows
        .into_iter()
        .filter_map(|r| {
            item(
                r.product_id,
                r.quantity,
                r.unit_price_cents,
                r.currency,
                r.name,
            )
        })
        .collect();
    Ok(Some((header, items)))
}

/// How an active reservation ends.
#[derive(Debug, Clone, Copy)]
pub enum Ending {
    /// Committed: its held units leave on hand for good.
    Commit,
    /// Released: its held units return to available.
    Release,
}

/// Ends a reservation if it is active, in one statement (one round trip,
/// its own transaction): locks the header, then its products in id order
/// (the service's one lock order: each lock is a CTE the next step waits
/// on), moves their stock and sets the status. Returns the header as it
/// was when locked, with its lines (`None`: no such reservation); a
/// reservation that was not active is left as it was.
#[tracing::instrument(skip_all, fields(ending = ?ending))]
pub async fn end(
    pool: &PgPool,
    reservation_id: Uuid,
    ending: Ending,
) -> sqlx::Result<Option<(ReservationRow, Vec<ReservedItem>)>> {
    let rows: Vec<Ended> = match ending {
        Ending::Commit => sqlx::query!(
            r#"with header as (
                 select reservation_id, status, expires_at from reservations
                 where reservation_id = $1
                 for update
             ), items as (
                 select product_id, quantity, unit_price_cents, currency, name
                 from reservation_items where reservation_id = $1
             ), held as (
                 select product_id, quantity from items
                 where exists (select 1 from header where status = 'active')
             ), locked as (
                 select product_id from products
                 where product_id in (select product_id from held)
                 order by product_id
                 for update
             ), moved as (
                 update products p
                 set reserved = p.reserved - h.quantity, on_hand = p.on_hand - h.quantity
                 from held h
                 where p.product_id = h.product_id and (select count(*) from locked) >= 0
                 returning p.product_id
             ), ended as (
                 update reservations set status = 'committed', updated_at = now()
                 where reservation_id = $1 and status = 'active'
                   and (select count(*) from moved) >= 0
             )
             select h.reservation_id, h.status as "status: ReservationStatus", h.expires_at,
                    i.product_id as "product_id?", i.quantity as "quantity?",
                    i.unit_price_cents as "unit_price_cents?", i.currency as "currency?",
                    i.name as "name?"
             from header h
             left join items i on true
             order by i.product_id"#,
            reservation_id,
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| Ended {
            header: ReservationRow {
                reservation_id: r.reservation_id,
                status: r.status,
                expires_at: r.expires_at,
            },
            item: item(
                r.product_id,
                r.quantity,
                r.unit_price_cents,
                r.currency,
                r.name,
            ),
        })
        .collect(),
        Ending::Release => sqlx::query!(
            r#"with header as (
                 select reservation_id, status, expires_at from reservations
                 where reservation_id = $1
                 for update
             ), items as (
                 select product_id, quantity, unit_price_cents, currency, name
                 from reservation_items where reservation_id = $1
             ), held as (
                 select product_id, quantity from items
                 where exists (select 1 from header where status = 'active')
             ), locked as (
                 select product_id from products
                 where product_id in (select product_id from held)
                 order by product_id
                 for update
             ), moved as (
                 update products p
                 set reserved = p.reserved - h.quantity
                 from held h
                 where p.product_id = h.product_id and (select count(*) from locked) >= 0
                 returning p.product_id
             ), ended as (
                 update reservations set status = 'released', updated_at = now()
                 where reservation_id = $1 and status = 'active'
                   and (select count(*) from moved) >= 0
             )
             select h.reservation_id, h.status as "status: ReservationStatus", h.expires_at,
                    i.product_id as "product_id?", i.quantity as "quantity?",
                    i.unit_price_cents as "unit_price_cents?", i.currency as "currency?",
                    i.name as "name?"
             from header h
             left join items i on true
             order by i.product_id"#,
            reservation_id,
        )
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| Ended {
            header: ReservationRow {
                reservation_id: r.reservation_id,
                status: r.status,
                expires_at: r.expires_at,
            },
            item: item(
                r.product_id,
                r.quantity,
                r.unit_price_cents,
                r.currency,
                r.name,
            ),
        })
        .collect(),
    };
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let header = first.header.clone();
    let items = rows.into_iter().filter_map(|r| r.item).collect();
    Ok(Some((header, items)))
}

/// A row of [`end`]: the header, and one line (none for a header without
/// lines).
struct Ended {
    header: ReservationRow,
    item: Option<ReservedItem>,
}

/// A line from the nullable columns of a left join.
fn item(
    product_id: Option<Uuid>,
    quantity: Option<i32>,
    unit_price_cents: Option<i64>,
    currency: Option<String>,
    name: Option<String>,
) -> Option<ReservedItem> {
    Some(ReservedItem {
        product_id: product_id?,
        quantity: quantity?,
        unit_price_cents: unit_price_cents?,
        currency: currency?,
        name: name?,
    })
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

/// Returns held units to available (`quantities`: product -> units) of
/// locked products, in one statement: expiry.
#[tracing::instrument(skip_all)]
pub async fn return_stock(
    conn: &mut PgConnection,
    quantities: &BTreeMap<Uuid, i32>,
) -> sqlx::Result<()> {
    let (ids, qty): (Vec<Uuid>, Vec<i32>) = quantities.iter().map(|(k, v)| (*k, *v)).unzip();
    sqlx::query!(
        "update products p set reserved = p.reserved - l.quantity
         from unnest($1::uuid[], $2::int4[]) as l(product_id, quantity)
         where p.product_id = l.product_id",
        &ids,
        &qty,
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
