//! SQL of the event store. Every version of a key is a row of
//! `event_versions`; a read picks at most one per key by testing the row's
//! sequence numbers (`tally_store::AsOf`), so a current read is just
//! `current_until IS NULL`.

use tally_store::AsOf;

/// The columns a `StoredEvent` is made of, on the row alias `v`.
macro_rules! event_columns {
    () => {
        "v.id, v.event_type, v.customer_id, v.ts, v.record, v.ingested_at, v.seq"
    };
}

// ---- the account's sequence ------------------------------------------------

/// Locks the account's counter row and reads its last sequence number
/// (creating it at 0 for a new account). Every writer of an account's events
/// runs it first in its transaction: the row lock makes concurrent writers,
/// in any process, queue here until the holder commits, and each statement
/// after it (READ COMMITTED) sees what the previous holder committed. So
/// sequence numbers are handed out in commit order, never twice, and a
/// rollback gives them back. `DO UPDATE` (not `DO NOTHING`) so that an
/// existing row is locked and returned too.
pub const LOCK_SEQUENCE: &str = r#"
INSERT INTO event_sequences (account_id, last_seq) VALUES ($1, 0)
ON CONFLICT (account_id) DO UPDATE SET last_seq = event_sequences.last_seq
RETURNING last_seq
"#;

/// Sets the last sequence number of several accounts (their rows are locked).
pub const SET_SEQUENCES: &str = r#"
UPDATE event_sequences AS c
SET last_seq = u.last_seq
FROM UNNEST($1::text[], $2::int8[]) AS u (account_id, last_seq)
WHERE c.account_id = u.account_id
"#;

/// The account's last sequence number, without locking (no row: none used).
pub const LATEST_SEQ: &str = "SELECT last_seq FROM event_sequences WHERE account_id = $1";

// ---- the upsert -------------------------------------------------------------

/// The current version of each of the keys ($2, $3 pairwise) that has one.
pub const CURRENT_VERSIONS: &str = concat!(
    "SELECT ",
    event_columns!(),
    r#"
FROM event_versions v
JOIN UNNEST($2::text[], $3::text[]) AS k (event_type, record_id)
  ON v.event_type = k.event_type AND v.record_id = k.record_id
WHERE v.account_id = $1 AND v.current_until IS NULL
"#
);

/// Ends the current versions that the upsert replaced: the version with the
/// given seq of each key gets `current_until`. Returns nothing; the caller
/// checks the row count (every one must still be current: the counter lock
/// is held since they were read).
pub const SUPERSEDE: &str = r#"
UPDATE event_versions AS v
SET current_until = s.until
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])
    AS s (account_id, event_type, record_id, seq, until)
WHERE v.account_id = s.account_id AND v.event_type = s.event_type
  AND v.record_id = s.record_id AND v.seq = s.seq
  AND v.current_until IS NULL
"#;

/// The new versions, one row per array position. Records come as JSON text
/// and are parsed by PostgreSQL (which refuses a NUL character in them).
pub const INSERT_VERSIONS: &str = r#"
INSERT INTO event_versions
    (account_id, event_type, record_id, seq, id, customer_id, ts, record, ingested_at,
     current_until)
SELECT t.account_id, t.event_type, t.record_id, t.seq, t.id, t.customer_id, t.ts,
       t.record::jsonb, t.ingested_at, t.current_until
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[],
            $7::int8[], $8::text[], $9::int8[], $10::int8[])
    AS t (account_id, event_type, record_id, seq, id, customer_id, ts, record, ingested_at,
          current_until)
"#;

// ---- one key ----------------------------------------------------------------

/// Every version of one key, in sequence order, with what became of it.
pub const HISTORY: &str = concat!(
    "SELECT ",
    event_columns!(),
    r#", v.current_until, v.deleted_seq
FROM event_versions v
WHERE v.account_id = $1 AND v.event_type = $2 AND v.record_id = $3
ORDER BY v.seq
"#
);

// ---- deletion and purge -----------------------------------------------------

/// Every live version (not deleted) of the named keys: what a deletion or
/// purge takes out of the rollups, and the lives a licensed rollup reads for
/// a stale version.
pub const LIVES_OF_KEYS: &str = concat!(
    "SELECT ",
    event_columns!(),
    r#"
FROM event_versions v
WHERE v.account_id = $1 AND v.event_type = $2 AND v.record_id = ANY($3::text[])
  AND v.deleted_seq IS NULL
"#
);

/// Records the deletion $4 on every version of the named keys that no earlier
/// deletion ended: each gets `deleted_seq`, and the current one also stops
/// being current there. History stays for reads as of an earlier sequence.
pub const MARK_DELETED: &str = r#"
UPDATE event_versions
SET current_until = COALESCE(current_until, $4), deleted_seq = $4
WHERE account_id = $1 AND event_type = $2 AND record_id = ANY($3::text[])
  AND deleted_seq IS NULL
"#;

/// Erases every version of the named keys; returns how many keys had any.
pub const PURGE: &str = r#"
WITH gone AS (
    DELETE FROM event_versions
    WHERE account_id = $1 AND event_type = $2 AND record_id = ANY($3::text[])
    RETURNING record_id
)
SELECT count(DISTINCT record_id) FROM gone
"#;

// ---- listing ----------------------------------------------------------------

/// The filters of `list_events` over the current versions; a NULL parameter
/// means "no such filter". `event_versions_current_time` serves the account
/// and the time range.
macro_rules! list_where {
    () => {
        r#"
FROM event_versions v
WHERE v.account_id = $1 AND v.current_until IS NULL
  AND ($2::text IS NULL OR v.event_type = $2)
  AND ($3::text IS NULL OR v.customer_id = $3)
  AND ($4::text[] IS NULL OR v.record_id = ANY($4))
  AND ($5::int8 IS NULL OR v.ts >= $5)
  AND ($6::int8 IS NULL OR v.ts <= $6)
"#
    };
}

pub const LIST_COUNT: &str = concat!("SELECT count(*)", list_where!());

pub const LIST_ASC: &str = concat!(
    "SELECT ",
    event_columns!(),
    list_where!(),
    "ORDER BY v.ts, v.event_type, v.record_id LIMIT $7 OFFSET $8"
);

pub const LIST_DESC: &str = concat!(
    "SELECT ",
    event_columns!(),
    list_where!(),
    "ORDER BY v.ts DESC, v.event_type DESC, v.record_id DESC LIMIT $7 OFFSET $8"
);

// ---- streams ----------------------------------------------------------------

/// One page of a stream after the (ts, record_id) cursor: $1 account, $2 event
/// type, $3..$4 the window, $5..$6 the cursor, $7 the page size, then the
/// parameters of `{customer}` and `{visible}` (see [`stream_page`]). Each key
/// has at most one visible version, so (ts, record_id) orders the page
/// strictly. With a customer, `event_versions_usage` serves the range and the
/// order; without one, the current read has `event_versions_current_time`.
const STREAM_PAGE: &str = concat!(
    "SELECT ",
    event_columns!(),
    r#"
FROM event_versions v
WHERE v.account_id = $1 AND v.event_type = $2
  AND v.ts >= $3 AND v.ts < $4
  AND (v.ts, v.record_id) > ($5, $6)
  AND {customer}
  AND {visible}
ORDER BY v.ts, v.record_id
LIMIT $7
"#
);

/// Parameters of [`STREAM_PAGE`] before the optional ones.
const STREAM_FIXED_PARAMS: usize = 7;

/// The current versions.
const CURRENT: &str = "v.current_until IS NULL";

/// The versions that were current when the account was at sequence `{known}`.
const CURRENT_AT: &str =
    "v.seq <= {known} AND (v.current_until IS NULL OR v.current_until > {known})";

/// Versions of row `{r}` known and alive now (no deletion ended them).
const ALIVE: &str = "{r}.deleted_seq IS NULL";

/// Versions of row `{r}` known at sequence `{known}` and alive then.
const ALIVE_AT: &str =
    "{r}.seq <= {known} AND ({r}.deleted_seq IS NULL OR {r}.deleted_seq > {known})";

/// Each key's version with the greatest (ts, seq) at or before `{valid}`
/// among those `{alive_v}` sees: no visible version of the same key (`w`)
/// beats it. The version is chosen here, over all of the key's versions;
/// the customer and the window are then tested on it.
const VALID_AT: &str = r#"v.ts <= {valid} AND {alive_v}
  AND NOT EXISTS (
    SELECT 1 FROM event_versions w
    WHERE w.account_id = v.account_id AND w.event_type = v.event_type
      AND w.record_id = v.record_id
      AND w.ts <= {valid} AND {alive_w}
      AND (w.ts > v.ts OR (w.ts = v.ts AND w.seq > v.seq)))"#;

/// The page query of a stream of one customer's events (`customer`) or every
/// customer's, as `as_of` sees them. Its parameters after the fixed seven are,
/// in this order: the customer (if any), `known_at` (if any), `valid_at` (if
/// any): the order in which the stream binds them.
pub fn stream_page(customer: bool, as_of: &AsOf) -> String {
    let mut next = STREAM_FIXED_PARAMS;
    let mut param = || {
        next += 1;
        format!("${next}")
    };
    let customer = if customer {
        format!("v.customer_id = {}", param())
    } else {
        "TRUE".to_owned()
    };
    let known = as_of.known_at.map(|_| format!("{}::int8", param()));
    let valid = as_of.valid_at.map(|_| format!("{}::int8", param()));
    STREAM_PAGE
        .replace("{customer}", &customer)
        .replace("{visible}", &visible(known.as_deref(), valid.as_deref()))
}

/// The test that keeps the one version per key a read sees, given the
/// placeholders of its `known_at` and `valid_at` (`None`: not bounded).
fn visible(known: Option<&str>, valid: Option<&str>) -> String {
    match (known, valid) {
        (None, None) => CURRENT.to_owned(),
        (Some(known), None) => CURRENT_AT.replace("{known}", known),
        (known, Some(valid)) => {
            let alive = |row: &str| match known {
                None => ALIVE.replace("{r}", row),
                Some(known) => ALIVE_AT.replace("{r}", row).replace("{known}", known),
            };
            VALID_AT
                .replace("{valid}", valid)
                .replace("{alive_v}", &alive("v"))
                .replace("{alive_w}", &alive("w"))
        }
    }
}

#[cfg(test)]
mod tests {
    use tally_event::Timestamp;
    use tally_store::EventSeq;

    use super::*;

    #[test]
    fn current_streams_need_no_extra_parameter() {
        let sql = stream_page(false, &AsOf::CURRENT);
        assert!(
            sql.contains("AND TRUE\n  AND v.current_until IS NULL"),
            "{sql}"
        );
        assert!(!sql.contains("$8"), "{sql}");
        let sql = stream_page(true, &AsOf::CURRENT);
        assert!(sql.contains("v.customer_id = $8"), "{sql}");
    }

    #[test]
    fn parameters_follow_customer_known_valid() {
        let as_of = AsOf {
            known_at: Some(EventSeq::ZERO),
            valid_at: Some(Timestamp::from_millis(0).unwrap()),
        };
        let sql = stream_page(true, &as_of);
        assert!(sql.contains("v.customer_id = $8"), "{sql}");
        assert!(sql.contains("w.seq <= $9::int8"), "{sql}");
        assert!(sql.contains("w.ts <= $10::int8"), "{sql}");
        assert!(!sql.contains('{'), "every placeholder replaced: {sql}");
        let sql = stream_page(false, &AsOf::valid_at(Timestamp::from_millis(0).unwrap()));
        assert!(sql.contains("v.ts <= $8::int8"), "{sql}");
        assert!(sql.contains("w.deleted_seq IS NULL"), "{sql}");
        let sql = stream_page(false, &AsOf::known_at(EventSeq::ZERO));
        assert!(sql.contains("v.current_until > $8::int8"), "{sql}");
    }
}
