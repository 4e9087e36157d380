//! SQL of the event store.

/// The batch upsert: one statement for a round of distinct keys. A newer or
/// equally recent event replaces the stored one (customer, timestamp, record,
/// ingestion time; the id stays); an older one changes nothing and returns no
/// row. `xmax = 0` holds only for a row version this statement inserted, which
/// tells `created` from `updated`.
pub const UPSERT: &str = r#"
INSERT INTO events AS e
    (account_id, event_type, record_id, id, customer_id, ts, record, ingested_at)
SELECT $1, t.event_type, t.record_id, t.id, t.customer_id, t.ts, t.record::jsonb, t.ingested_at
FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[], $8::int8[])
    AS t (event_type, record_id, id, customer_id, ts, record, ingested_at)
ON CONFLICT ON CONSTRAINT events_key DO UPDATE
SET customer_id = excluded.customer_id,
    ts = excluded.ts,
    record = excluded.record,
    ingested_at = excluded.ingested_at
WHERE excluded.ts >= e.ts
RETURNING e.event_type, e.record_id, e.id, (e.xmax = 0) AS inserted
"#;

/// Ids of the stored events that a round left alone (stale). ON CONFLICT locked
/// them, so they cannot have changed since within this transaction.
pub const STORED_IDS: &str = r#"
SELECT e.event_type, e.record_id, e.id
FROM events e
JOIN UNNEST($2::text[], $3::text[]) AS k (event_type, record_id)
  ON e.event_type = k.event_type AND e.record_id = k.record_id
WHERE e.account_id = $1
"#;

pub const GET: &str = r#"
SELECT id, event_type, customer_id, ts, record, ingested_at
FROM events
WHERE account_id = $1 AND event_type = $2 AND record_id = $3
"#;

pub const DELETE: &str = r#"
DELETE FROM events
WHERE account_id = $1 AND event_type = $2 AND record_id = ANY($3::text[])
"#;

/// The filters of `list_events`; a NULL parameter means "no such filter".
macro_rules! list_where {
    () => {
        r#"
FROM events
WHERE account_id = $1
  AND ($2::text IS NULL OR event_type = $2)
  AND ($3::text IS NULL OR customer_id = $3)
  AND ($4::text[] IS NULL OR record_id = ANY($4))
  AND ($5::int8 IS NULL OR ts >= $5)
  AND ($6::int8 IS NULL OR ts <= $6)
"#
    };
}

pub const LIST_COUNT: &str = concat!("SELECT count(*)", list_where!());

pub const LIST_ASC: &str = concat!(
    "SELECT id, event_type, customer_id, ts, record, ingested_at",
    list_where!(),
    "ORDER BY ts, event_type, record_id LIMIT $7 OFFSET $8"
);

pub const LIST_DESC: &str = concat!(
    "SELECT id, event_type, customer_id, ts, record, ingested_at",
    list_where!(),
    "ORDER BY ts DESC, event_type DESC, record_id DESC LIMIT $7 OFFSET $8"
);

/// One page of a customer's stream, after the (ts, record_id) cursor; the
/// `events_customer_type_ts` index serves both the range and the order.
pub const STREAM_PAGE: &str = r#"
SELECT id, event_type, customer_id, ts, record, ingested_at
FROM events
WHERE account_id = $1 AND customer_id = $2 AND event_type = $3
  AND ts >= $4 AND ts < $5
  AND (ts, record_id) > ($6, $7)
ORDER BY ts, record_id
LIMIT $8
"#;

/// One page of every customer's events of one type (an aggregator-wide time
/// series), after the (ts, record_id) cursor; `events_account_ts` serves the range.
pub const TYPE_STREAM_PAGE: &str = r#"
SELECT id, event_type, customer_id, ts, record, ingested_at
FROM events
WHERE account_id = $1 AND event_type = $2
  AND ts >= $3 AND ts < $4
  AND (ts, record_id) > ($5, $6)
ORDER BY ts, record_id
LIMIT $7
"#;
