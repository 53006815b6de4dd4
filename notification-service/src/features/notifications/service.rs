//! Intake, history and the admin view.
//!
//! Intake: one statement reads whether the event was recorded and the
//! user's preferences and push devices; a replay of an event answers the
//! recorded notification; a new event is validated (template, recipients,
//! data), rendered, addressed (contacts from `to` or user-service, channels
//! from the preferences) and recorded with its deliveries in one statement. An event about an
//! erased (deleted) account is refused like an unknown user, atomically:
//! the intake holds the account's erasure lock (shared) while it records,
//! so an erasure either committed before and is seen, or waits and scrubs
//! what was recorded. Two concurrent first
//! requests for one event meet on the unique `event_id`: the second waits
//! for the first and answers its notification.

use lettre::Address;
use service_kit::FieldError;
use service_kit::pagination::Page;
use sqlx::PgPool;
use std::str::FromStr;
use uuid::Uuid;

use super::contacts::ContactError;
use super::models::{
    Accepted, AdminDelivery, AdminFilter, DeliverySummary, HistoryItem, NewDelivery,
    NewNotification,
};
use super::repository;
use crate::delivery::channels::Channel;
use crate::features::erasure::service::{self as erasure, ERASED};
use crate::state::AppState;
use crate::templates::{self, Rendered, TemplateName};

/// What can go wrong with notifications. `routes.rs` decides what each
/// means over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    /// The request is invalid; every failing field is listed.
    #[error("the notification is invalid")]
    Invalid(Vec<FieldError>),
    /// `user_id` names no user user-service knows.
    #[error("is not a known user")]
    UnknownUser,
    /// The data passed the checks but the template cannot render it.
    #[error("cannot be rendered by the template")]
    Unrenderable,
    /// user-service (contacts) is down.
    #[error("user contacts are unavailable")]
    ContactsUnavailable(#[source] ContactError),
    /// No delivery with this id.
    #[error("no delivery with this id")]
    DeliveryNotFound,
    /// A failed password-reset mail is never sent again (its link was wiped).
    #[error("a failed password-reset mail is not sent again")]
    NotResendable,
    /// The delivery's account was erased: it has no recipient any more.
    #[error("the recipient's account was erased")]
    RecipientErased,
    /// Only failed deliveries can be retried.
    #[error("only failed deliveries can be retried; this one is {0}")]
    NotFailed(String),
    /// Our database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// An event recorded a moment ago is gone.
    #[error("the event vanished")]
    Vanished,
}

fn db(err: sqlx::Error) -> NotificationError {
    NotificationError::Database(err)
}

/// Whether `phone` is E.164: `+` and 8 to 15 digits.
pub fn is_e164(phone: &str) -> bool {
    phone.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn valid_email(email: &str) -> bool {
    Address::from_str(email).is_ok()
}

/// The addresses a notification may use.
#[derive(Debug, Default)]
struct Addresses {
    email: Option<String>,
    phone: Option<String>,
}

/// Checks the request's shape beyond types: known template, the recipients
/// the template needs, valid addresses, the data the template needs.
fn validate(request: &NewNotification) -> Result<TemplateName, NotificationError> {
    let Some(template) = TemplateName::parse(&request.template) else {
        return Err(NotificationError::Invalid(vec![FieldError::new(
            "template",
            "must be one of welcome, password_reset, order_confirmed, order_cancelled, payment_failed",
        )]));
    };
    let mut errors = Vec::new();
    let to_email = request.to.as_ref().and_then(|to| to.email.as_deref());
    let to_phone = request.to.as_ref().and_then(|to| to.phone.as_deref());
    match template {
        TemplateName::Welcome => {
            if request.user_id.is_none() {
                errors.push(FieldError::new("user_id", "is required for welcome"));
            }
            if to_email.is_none() {
                errors.push(FieldError::new("to.email", "is required for welcome"));
            }
        }
        TemplateName::PasswordReset => {
            if to_email.is_none() {
                errors.push(FieldError::new(
                    "to.email",
                    "is required for password_reset",
                ));
            }
        }
        _ => {
            if request.user_id.is_none() {
                errors.push(FieldError::new(
                    "user_id",
                    format!("is required for {}", template.as_str()),
                ));
            }
        }
    }
    if let Some(email) = to_email
        && !valid_email(email)
    {
        errors.push(FieldError::new(
            "to.email",
            "must be a valid e-mail address",
        ));
    }
    if let Some(phone) = to_phone
        && !is_e164(phone)
    {
        errors.push(FieldError::new(
            "to.phone",
            "must be an E.164 phone number (+ and 8-15 digits)",
        ));
    }
    errors.extend(templates::check_data(template, &request.data));
    if errors.is_empty() {
        Ok(template)
    } else {
        Err(NotificationError::Invalid(errors))
    }
}

/// Accepts a notification (idempotent on `event_id`).
pub async fn intake(
    state: &AppState,
    producer: &str,
    request: NewNotification,
) -> Result<Accepted, NotificationError> {
    let context = repository::intake_context(&state.pool, request.event_id, request.user_id)
        .await
        .map_err(db)?;
    if let Some(id) = context.recorded {
        return replay(&state.pool, id).await;
    }
    let template = validate(&request)?;
    let rendered = state
        .templates
        .render(template, &request.data)
        .map_err(|err| {
            // The error names the template part, never the data's values.
            tracing::warn!(template = template.as_str(), error = %err, "rendering failed");
            NotificationError::Unrenderable
        })?;
    let addresses = addresses(state, &request, template).await?;
    let deliveries = plan(&request, template, &rendered, addresses, context);

    let notification_id = Uuid::now_v7();
    let mut tx = state.pool.begin().await.map_err(db)?;
    if let Some(user_id) = request.user_id {
        erasure::hold_off(&mut tx, user_id)
            .await
            .map_err(|erasure::ErasureError::Database(err)| err)?;
    }
    let inserted = repository::insert(
        &mut tx,
        notification_id,
        &request,
        template.as_str(),
        producer,
        &deliveries,
    )
    .await
    .map_err(db)?;
    if !inserted.allowed {
        // The account was deleted and its data here erased: nothing more
        // about it is stored or sent (as user-service's 404 would say).
        tx.rollback().await.map_err(db)?;
        return Err(NotificationError::UnknownUser);
    }
    if !inserted.created {
        // A concurrent request recorded this event first.
        tx.rollback().await.map_err(db)?;
        return recorded(&state.pool, request.event_id)
            .await?
            .ok_or(NotificationError::Vanished);
    }
    tx.commit().await.map_err(db)?;
    tracing::info!(
        notification_id = %notification_id,
        event_id = %request.event_id,
        template = template.as_str(),
        producer,
        deliveries = deliveries.len(),
        "notification accepted"
    );
    metrics::counter!("notifications_accepted_total", "template" => template.as_str()).increment(1);
    Ok(Accepted {
        id: notification_id,
        deliveries: deliveries
            .iter()
            .map(|d| DeliverySummary {
                id: d.id,
                channel: d.channel,
                status: super::models::DeliveryStatus::Pending,
            })
            .collect(),
    })
}

/// The notification already recorded for `event_id`, if any.
async fn recorded(pool: &PgPool, event_id: Uuid) -> Result<Option<Accepted>, NotificationError> {
    let mut conn = pool.acquire().await.map_err(db)?;
    let Some(id) = repository::find_by_event(&mut conn, event_id)
        .await
        .map_err(db)?
    else {
        return Ok(None);
    };
    let deliveries = repository::deliveries_of(&mut conn, id).await.map_err(db)?;
    Ok(Some(Accepted { id, deliveries }))
}

/// The answer to a replay of the event recorded as notification `id`.
async fn replay(pool: &PgPool, id: Uuid) -> Result<Accepted, NotificationError> {
    let mut conn = pool.acquire().await.map_err(db)?;
    let deliveries = repository::deliveries_of(&mut conn, id).await.map_err(db)?;
    Ok(Accepted { id, deliveries })
}

/// The addresses to use: `to` when given, else the user's contact details.
async fn addresses(
    state: &AppState,
    request: &NewNotification,
    template: TemplateName,
) -> Result<Addresses, NotificationError> {
    let to = request.to.clone().unwrap_or_default();
    if to.email.is_some() || to.phone.is_some() || template.is_security() {
        return Ok(Addresses {
            email: to.email,
            phone: to.phone,
        });
    }
    let Some(user_id) = request.user_id else {
        return Ok(Addresses::default());
    };
    match state.users.contact(user_id).await {
        Ok(contact) => Ok(Addresses {
            email: contact.email.filter(|e| valid_email(e)),
            phone: contact.phone.filter(|p| is_e164(p)),
        }),
        Err(ContactError::UnknownUser) => Err(NotificationError::UnknownUser),
        Err(err @ ContactError::Unavailable(_)) => Err(NotificationError::ContactsUnavailable(err)),
    }
}

/// One delivery per channel the preferences allow and an address exists
/// for; push: one per subscribed device. Security mail: email only, always.
fn plan(
    request: &NewNotification,
    template: TemplateName,
    rendered: &Rendered,
    addresses: Addresses,
    context: repository::IntakeContext,
) -> Vec<NewDelivery> {
    let email = |target: String| NewDelivery {
        id: Uuid::now_v7(),
        channel: Channel::Email,
        target,
        subject: rendered.subject.clone(),
        body_text: rendered.text.clone(),
        body_html: Some(rendered.html.clone()),
    };
    if template.is_security() {
        return addresses.email.into_iter().map(email).collect();
    }
    let prefs = context.preferences.unwrap_or_default();
    if template.is_marketing() && !prefs.marketing {
        return Vec::new();
    }
    let mut deliveries = Vec::new();
    if prefs.email
        && let Some(address) = addresses.email
    {
        deliveries.push(email(address));
    }
    if prefs.sms
        && let Some(phone) = addresses.phone
    {
        deliveries.push(NewDelivery {
            id: Uuid::now_v7(),
            channel: Channel::Sms,
            target: phone,
            subject: rendered.subject.clone(),
            body_text: rendered.short.clone(),
            body_html: None,
        });
    }
    if prefs.push && request.user_id.is_some() {
        for token in context.push_tokens {
            deliveries.push(NewDelivery {
                id: Uuid::now_v7(),
                channel: Channel::Push,
                target: token,
                subject: rendered.subject.clone(),
                body_text: rendered.short.clone(),
                body_html: None,
            });
        }
    }
    deliveries
}

/// The caller's deliveries, newest first.
pub async fn history(
    pool: &PgPool,
    user_id: Uuid,
    limit: u32,
    before: Option<Uuid>,
) -> Result<Page<HistoryItem>, NotificationError> {
    let rows = repository::history(pool, user_id, before, i64::from(limit) + 1)
        .await
        .map_err(db)?;
    Ok(Page::from_rows(rows, limit, |row| row.id))
}

/// Deliveries for administrators, newest first, optionally by status.
pub async fn admin_list(
    pool: &PgPool,
    filter: &AdminFilter,
    limit: u32,
    before: Option<Uuid>,
) -> Result<Page<AdminDelivery>, NotificationError> {
    let rows = repository::admin_list(pool, filter.status, before, i64::from(limit) + 1)
        .await
        .map_err(db)?;
    Ok(Page::from_rows(rows, limit, |row| row.id))
}

/// Queues a failed delivery again with a fresh attempt budget.
pub async fn retry(pool: &PgPool, id: Uuid) -> Result<AdminDelivery, NotificationError> {
    let reset = TemplateName::PasswordReset.as_str();
    if let Some(delivery) = repository::requeue_failed(pool, id, reset)
        .await
        .map_err(db)?
    {
        tracing::info!(delivery_id = %id, "failed delivery queued again by an administrator");
        return Ok(delivery);
    }
    let delivery = repository::admin_get(pool, id)
        .await
        .map_err(db)?
        .ok_or(NotificationError::DeliveryNotFound)?;
    // An erasure scrubs a delivery's target and sets this error together
    // (erasure::repository::scrub_deliveries); `requeue_failed` refuses the
    // scrubbed target, this names why.
    if delivery.status.as_str() == "failed" && delivery.last_error.as_deref() == Some(ERASED) {
        return Err(NotificationError::RecipientErased);
    }
    if delivery.template == reset && delivery.status.as_str() == "failed" {
        // Its link was wiped when it failed, and has likely expired.
        return Err(NotificationError::NotResendable);
    }
    Err(NotificationError::NotFailed(
        delivery.status.as_str().to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        assert!(is_e164("+33612345678"));
        assert!(!is_e164("0612345678"));
        assert!(!is_e164("+0612345678"));
        assert!(!is_e164("+33 6 12"));
    }
}
