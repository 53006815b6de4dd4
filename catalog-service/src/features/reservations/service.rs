//! Reservation rules: all or nothing, never oversold, idempotent on ids.
//! Stock and prices are always read from the database (locked rows), never
//! from the cache; every committed stock movement drops the cached
//! products it moved.

use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

use super::models::{
    ItemRequest, NewReservation, NewRestock, Reservation, ReservationRow, ReservationStatus,
    ReservedItem, Restock, ShortItem, ShortReason, StockRow, same_lines,
};
use super::repository::{self, Ending};
use crate::cache::Caches;
use crate::config::ReservationSettings;

/// What can go wrong with reservations.
#[derive(Debug, thiserror::Error)]
pub enum ReservationError {
    /// No such reservation.
    #[error("reservation not found")]
    NotFound,
    /// Some lines cannot be reserved; nothing was.
    #[error("some items are not available in the requested quantity; nothing was reserved")]
    Short(Vec<ShortItem>),
    /// The id was used before for other lines.
    #[error("this id was already used with other items")]
    IdReused(&'static str),
    /// The TTL is above the configured maximum.
    #[error("must be at most {0} seconds")]
    TtlTooLong(u32),
    /// The transition is not possible from the reservation's state.
    #[error("the reservation is {0}")]
    WrongState(&'static str),
    /// A restock names an unknown product.
    #[error("is not a known product")]
    UnknownProduct(usize),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// How a reserve call ended, for the metrics.
#[derive(Debug, Clone, Copy)]
pub enum Reserved {
    /// Newly reserved.
    Created,
    /// The same request again: the first answer replayed.
    Replayed,
}

fn count(outcome: &'static str) {
    metrics::counter!("catalog_reservations_total", "outcome" => outcome).increment(1);
}

/// Reserves every line or none, for `ttl_seconds`; the answer carries the
/// authoritative prices and names.
pub async fn reserve(
    pool: &PgPool,
    caches: &Caches,
    settings: &ReservationSettings,
    request: NewReservation,
    caller: &str,
) -> Result<(Reservation, Reserved), ReservationError> {
    let ttl = request.ttl_seconds.unwrap_or(settings.default_ttl_secs);
    if ttl > settings.max_ttl_secs {
        return Err(ReservationError::TtlTooLong(settings.max_ttl_secs));
    }
    let result = reserve_once(pool, ttl, &request, caller).await;
    if let Ok((_, Reserved::Created)) = &result {
        let moved: Vec<Uuid> = request.items.iter().map(|i| i.product_id).collect();
        caches.invalidate_products(moved).await;
    }
    count(match &result {
        Ok((_, Reserved::Created)) => "reserved",
        Ok((_, Reserved::Replayed)) => "replayed",
        Err(ReservationError::Short(_)) => "insufficient_stock",
        Err(_) => "error",
    });
    result
}

async fn reserve_once(
    pool: &PgPool,
    ttl: u32,
    request: &NewReservation,
    caller: &str,
) -> Result<(Reservation, Reserved), ReservationError> {
    let quantities = lines(&request.items);
    let attempt =
        repository::reserve(pool, request.reservation_id, ttl, caller, &quantities).await?;
    let rows: BTreeMap<Uuid, _> = attempt
        .rows
        .into_iter()
        .map(|r| (r.product_id, r))
        .collect();
    let (mut items, short) = judge(&request.items, &rows);
    if let Some(header) = attempt.created {
        items.sort_by_key(|i| i.product_id);
        return Ok((with_items(header, items), Reserved::Created));
    }
    // Nothing was written: the id exists (a replay, answered whatever the
    // stock is now), or a line is short.
    let mut conn = pool.acquire().await?;
    let existing = match load_locked(&mut conn, request.reservation_id).await {
        Ok(existing) => existing,
        Err(ReservationError::NotFound) if !short.is_empty() => {
            return Err(ReservationError::Short(short));
        }
        Err(err) => return Err(err),
    };
    if !existing.same_items(&request.items) {
        return Err(ReservationError::IdReused("reservation_id"));
    }
    match existing.status {
        ReservationStatus::Active | ReservationStatus::Committed => {
            Ok((existing, Reserved::Replayed))
        }
        ReservationStatus::Released => Err(ReservationError::WrongState("released")),
        ReservationStatus::Expired => Err(ReservationError::WrongState("expired")),
    }
}

/// The lines as reservable items and the short ones, by `rows` (the
/// locked products): the rule [`repository::reserve`]'s statement applies
/// (active, enough available).
fn judge(
    lines: &[ItemRequest],
    rows: &BTreeMap<Uuid, StockRow>,
) -> (Vec<ReservedItem>, Vec<ShortItem>) {
    let mut short = Vec::new();
    let mut items = Vec::with_capacity(lines.len());
    for (line, item) in lines.iter().enumerate() {
        match rows.get(&item.product_id) {
            Some(row) if row.active && row.available >= item.quantity => items.push(ReservedItem {
                product_id: item.product_id,
                quantity: item.quantity,
                unit_price_cents: row.price_cents,
                currency: row.currency.clone(),
                name: row.name.clone(),
            }),
            Some(row) if row.active => short.push(ShortItem {
                product_id: item.product_id,
                requested: item.quantity,
                available: row.available.max(0),
                reason: ShortReason::InsufficientStock,
                line,
            }),
            _ => short.push(ShortItem {
                product_id: item.product_id,
                requested: item.quantity,
                available: 0,
                reason: ShortReason::NotSellable,
                line,
            }),
        }
    }
    (items, short)
}

/// Held stock leaves on hand for good. Idempotent.
pub async fn commit(
    pool: &PgPool,
    caches: &Caches,
    reservation_id: Uuid,
) -> Result<Reservation, ReservationError> {
    let reservation = end(pool, reservation_id, Ending::Commit).await?;
    match reservation.status {
        ReservationStatus::Committed => Ok(reservation),
        ReservationStatus::Released => Err(ReservationError::WrongState("released")),
        ReservationStatus::Expired => Err(ReservationError::WrongState("expired")),
        // Still active (even if past its expiry but not yet swept): the
        // stock was still held, so committing it was safe.
        ReservationStatus::Active => {
            ended(caches, &reservation, "committed").await;
            Ok(Reservation {
                status: ReservationStatus::Committed,
                ..reservation
            })
        }
    }
}

/// Held stock returns to available. Idempotent; a committed reservation
/// cannot be released (restock it instead).
pub async fn release(
    pool: &PgPool,
    caches: &Caches,
    reservation_id: Uuid,
) -> Result<Reservation, ReservationError> {
    let reservation = end(pool, reservation_id, Ending::Release).await?;
    match reservation.status {
        ReservationStatus::Released | ReservationStatus::Expired => Ok(reservation),
        ReservationStatus::Committed => Err(ReservationError::WrongState(
            "committed; restock it instead",
        )),
        ReservationStatus::Active => {
            ended(caches, &reservation, "released").await;
            Ok(Reservation {
                status: ReservationStatus::Released,
                ..reservation
            })
        }
    }
}

/// Ends the reservation if it is active (one statement) and returns it as
/// it was before.
async fn end(
    pool: &PgPool,
    reservation_id: Uuid,
    ending: Ending,
) -> Result<Reservation, ReservationError> {
    let (header, items) = repository::end(pool, reservation_id, ending)
        .await?
        .ok_or(ReservationError::NotFound)?;
    Ok(with_items(header, items))
}

/// What follows an active reservation's end: its products' cached
/// representations are stale, and it is counted.
async fn ended(caches: &Caches, reservation: &Reservation, outcome: &'static str) {
    let ids: Vec<Uuid> = reservation.items.iter().map(|i| i.product_id).collect();
    caches.invalidate_products(ids).await;
    count(outcome);
}

/// Puts the units of a cancelled order back on hand, once per reference.
pub async fn restock(
    pool: &PgPool,
    caches: &Caches,
    request: NewRestock,
    caller: &str,
) -> Result<Restock, ReservationError> {
    let mut tx = pool.begin().await?;
    let quantities = lines(&request.items);
    if !repository::insert_restock(&mut tx, request.reference_id, caller).await? {
        let done: BTreeMap<Uuid, i32> = repository::restock_items(&mut tx, request.reference_id)
            .await?
            .into_iter()
            .collect();
        if !same_lines(&done, &request.items) {
            return Err(ReservationError::IdReused("reference_id"));
        }
        return Ok(Restock {
            reference_id: request.reference_id,
            items: request.items,
        });
    }
    let ids: Vec<Uuid> = quantities.keys().copied().collect();
    let rows = repository::lock_products(&mut tx, &ids).await?;
    if let Some(line) = request
        .items
        .iter()
        .position(|item| !rows.iter().any(|r| r.product_id == item.product_id))
    {
        return Err(ReservationError::UnknownProduct(line));
    }
    repository::apply_restock(&mut tx, request.reference_id, &quantities, caller).await?;
    tx.commit().await?;
    caches.invalidate_products(ids).await;
    Ok(Restock {
        reference_id: request.reference_id,
        items: request.items,
    })
}

/// Releases up to `batch` expired reservations in one transaction; returns
/// how many.
pub async fn release_expired(
    pool: &PgPool,
    caches: &Caches,
    batch: u32,
) -> Result<usize, ReservationError> {
    let mut tx = pool.begin().await?;
    let expired = repository::lock_expired(&mut tx, i64::from(batch)).await?;
    if expired.is_empty() {
        return Ok(0);
    }
    let held = repository::held_units(&mut tx, &expired).await?;
    let quantities: BTreeMap<Uuid, i32> = held
        .into_iter()
        .map(|(id, units)| (id, i32::try_from(units).unwrap_or(i32::MAX)))
        .collect();
    let ids: Vec<Uuid> = quantities.keys().copied().collect();
    repository::lock_products(&mut tx, &ids).await?;
    repository::return_stock(&mut tx, &quantities).await?;
    repository::mark_expired(&mut tx, &expired).await?;
    tx.commit().await?;
    caches.invalidate_products(ids).await;
    metrics::counter!("catalog_reservations_expired_total").increment(expired.len() as u64);
    Ok(expired.len())
}

/// Lines as product -> quantity, in the lock order.
fn lines(items: &[ItemRequest]) -> BTreeMap<Uuid, i32> {
    items.iter().map(|i| (i.product_id, i.quantity)).collect()
}

fn with_items(header: ReservationRow, items: Vec<ReservedItem>) -> Reservation {
    Reservation {
        reservation_id: header.reservation_id,
        status: header.status,
        expires_at: header.expires_at,
        items,
    }
}

async fn load_locked(
    conn: &mut sqlx::PgConnection,
    reservation_id: Uuid,
) -> Result<Reservation, ReservationError> {
    let (header, items) = repository::lock_with_items(conn, reservation_id)
        .await?
        .ok_or(ReservationError::NotFound)?;
    Ok(with_items(header, items))
}
