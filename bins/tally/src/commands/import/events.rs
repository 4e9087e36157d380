//! The events of a batch, in the form their destination takes: JSON values for
//! a database (`Billing::ingest_batch`), or the JSON array a server's batch
//! endpoint takes, built on the reading thread from the lines as they are;
//! with the upsert keys the batch names.
//!
//! Sending NDJSON lines as they are spares the client a tree of values per
//! event and its serialization, on the same two cores as the server it feeds;
//! a line is still checked to be UTF-8 and one JSON value, since one bad item
//! would make the server refuse the whole array.
//!
//! The keys let two batches be in flight at once without changing what is
//! stored: batches that share no key commit to the same result in either
//! order, so a batch that shares one waits for the other (see `Import::run`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// Which form a destination takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Values,
    Array,
}

/// A batch's events in one form, and their keys.
#[derive(Debug)]
pub struct Events {
    held: Held,
    keys: Keys,
}

#[derive(Debug)]
enum Held {
    Values(Vec<Value>),
    Array {
        /// `[` and the events separated by commas; [`Events::body`] closes it.
        json: Vec<u8>,
        /// Where each event is in `json`.
        items: Vec<Range<usize>>,
    },
}

/// The upsert keys (`event_type`, normalized `record.id`) of a batch's
/// events. An event without a valid key is refused by validation and stores
/// nothing, so it needs none; one whose key cannot be read though it may be
/// valid (a duplicated field) makes the batch `unknown`, which overlaps with
/// every batch.
#[derive(Debug, Default)]
pub struct Keys {
    known: HashSet<(String, String)>,
    unknown: bool,
}

impl Keys {
    /// Whether the two batches may name the same event.
    pub fn overlap(&self, other: &Keys) -> bool {
        if self.unknown || other.unknown {
            return true;
        }
        let (small, large) = if self.known.len() <= other.known.len() {
            (&self.known, &other.known)
        } else {
            (&other.known, &self.known)
        };
        small.iter().any(|key| large.contains(key))
    }
}

impl Events {
    pub fn new(form: Form) -> Events {
        let held = match form {
            Form::Values => Held::Values(Vec::new()),
            Form::Array => Held::Array {
                json: b"[".to_vec(),
                items: Vec::new(),
            },
        };
        Events {
            held,
            keys: Keys::default(),
        }
    }

    pub fn len(&self) -> usize {
        match &self.held {
            Held::Values(values) => values.len(),
            Held::Array { items, .. } => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The keys, moved out: the batch in flight keeps them apart from its
    /// events, which its sending task owns.
    pub fn take_keys(&mut self) -> Keys {
        std::mem::take(&mut self.keys)
    }

    /// Adds a line that holds one JSON value; false, and nothing added, when
    /// it does not.
    pub fn push_line(&mut self, line: &[u8]) -> bool {
        match &mut self.held {
            Held::Values(_) => match serde_json::from_slice(line) {
                Ok(value) => {
                    self.push_value(value);
                    true
                }
                Err(_) => false,
            },
            Held::Array { json, items } => {
                if std::str::from_utf8(line).is_err() {
                    return false;
                }
                // The probe reads the key and checks the whole line's syntax;
                // a line it cannot read may still be JSON of another shape.
                match serde_json::from_slice::<KeyProbe>(line) {
                    Ok(probe) => {
                        if let Some(key) = probe.key() {
                            self.keys.known.insert(key);
                        }
                    }
                    Err(_) if serde_json::from_slice::<IgnoredAny>(line).is_ok() => {
                        self.keys.unknown |= line.trim_ascii_start().starts_with(b"{");
                    }
                    Err(_) => return false,
                }
                push_item(json, items, line);
                true
            }
        }
    }

    /// Adds an event built here (from a CSV row), or parsed from a line.
    pub fn push_value(&mut self, event: Value) {
        if let Some(key) = key_of(&event) {
            self.keys.known.insert(key);
        }
        match &mut self.held {
            Held::Values(values) => values.push(event),
            Held::Array { json, items } => push_item(json, items, event.to_string().as_bytes()),
        }
    }

    /// The events as values, when they are held so.
    pub fn values(&self) -> Option<&[Value]> {
        match &self.held {
            Held::Values(values) => Some(values),
            Held::Array { .. } => None,
        }
    }

    /// The JSON array of the events, when they are held as one.
    pub fn body(&self) -> Option<Vec<u8>> {
        match &self.held {
            Held::Values(_) => None,
            Held::Array { json, .. } => {
                let mut body = Vec::with_capacity(json.len() + 1);
                body.extend_from_slice(json);
                body.push(b']');
                Some(body)
            }
        }
    }

    /// Event `index` as a value, for the rejects file.
    pub fn value(&self, index: usize) -> Option<Value> {
        match &self.held {
            Held::Values(values) => values.get(index).cloned(),
            Held::Array { json, items } => {
                let item = json.get(items.get(index)?.clone())?;
                serde_json::from_slice(item).ok()
            }
        }
    }
}

fn push_item(json: &mut Vec<u8>, items: &mut Vec<Range<usize>>, item: &[u8]) {
    if !items.is_empty() {
        json.push(b',');
    }
    let start = json.len();
    json.extend_from_slice(item);
    items.push(start..json.len());
}

/// The two fields of an event that make its key; every other is skipped.
#[derive(Deserialize)]
struct KeyProbe<'a> {
    #[serde(borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    record: Option<RecordProbe<'a>>,
}

#[derive(Deserialize)]
struct RecordProbe<'a> {
    /// A value of its own: a string or an integer, as validation takes it.
    #[serde(borrow)]
    id: Option<IdProbe<'a>>,
}

/// `record.id` as a string, or the text of a number.
struct IdProbe<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for IdProbe<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through a value: any JSON is a valid id to skip, and an exact
        // number keeps its text (`arbitrary_precision`).
        let value = Value::deserialize(deserializer)?;
        Ok(IdProbe(record_id(&value).map(Cow::Owned)))
    }
}

impl KeyProbe<'_> {
    fn key(self) -> Option<(String, String)> {
        let event_type = self.event_type?.into_owned();
        let id = self.record?.id?.0?.into_owned();
        Some((event_type, id))
    }
}

/// The key of an event value, when it has a valid one.
fn key_of(event: &Value) -> Option<(String, String)> {
    let event_type = event.get("event_type")?.as_str()?;
    let id = record_id(event.get("record")?.get("id")?)?;
    Some((event_type.to_owned(), id))
}

/// `record.id` normalized as the store keys it: a string as sent, an integer
/// in its decimal text (`485` and `"485"` are one record); nothing for any
/// other value, which validation refuses.
fn record_id(id: &Value) -> Option<String> {
    match id {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => number
            .to_string()
            .parse::<i128>()
            .ok()
            .map(|n| n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lines_become_an_array_and_each_event_is_found_again() {
        let mut events = Events::new(Form::Array);
        assert!(events.push_line(br#"{"a": 1.50}"#));
        assert!(!events.push_line(b"{\"a\": "));
        assert!(!events.push_line(b"1 2"));
        assert!(!events.push_line(b"\"\xff\""));
        events.push_value(json!({"b": "x"}));
        assert!(events.push_line(b"[]  "));
        assert_eq!(events.len(), 3);
        let body = events.body().unwrap();
        assert_eq!(body, br#"[{"a": 1.50},{"b":"x"},[]  ]"#);
        let parsed: Vec<Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(events.value(0), Some(parsed[0].clone()));
        assert_eq!(events.value(1), Some(json!({"b": "x"})));
        assert_eq!(events.value(3), None);
        assert!(events.values().is_none());
    }

    #[test]
    fn values_are_kept_parsed() {
        let mut events = Events::new(Form::Values);
        assert!(events.push_line(br#"{"a": 1}"#));
        assert!(!events.push_line(b"nope"));
        assert_eq!(events.len(), 1);
        assert_eq!(events.body(), None);
        assert_eq!(events.values(), Some(&[json!({"a": 1})][..]));
    }

    fn batch(form: Form, lines: &[&str]) -> Events {
        let mut events = Events::new(form);
        for line in lines {
            assert!(events.push_line(line.as_bytes()), "{line}");
        }
        events
    }

    /// Keys are read alike from lines and values, with integer ids as the
    /// store normalizes them.
    #[test]
    fn batches_overlap_when_they_name_one_event() {
        for form in [Form::Values, Form::Array] {
            let first = batch(
                form,
                &[
                    r#"{"event_type": "a", "record": {"id": 485, "x": [1]}}"#,
                    r#"{"event_type": "b", "record": {"id": "k\"1"}}"#,
                ],
            );
            let same_integer = batch(form, &[r#"{"event_type": "a", "record": {"id": "485"}}"#]);
            let escaped = batch(
                form,
                &[r#"{"record": {"id": "k\u00221"}, "event_type": "b"}"#],
            );
            let other = batch(
                form,
                &[
                    r#"{"event_type": "b", "record": {"id": 485}}"#,
                    r#"{"event_type": "a", "record": {"id": 4.5}}"#,
                    r#"{"event_type": "a", "record": {}}"#,
                    "[1]",
                ],
            );
            assert!(first.keys().overlap(&same_integer.keys), "{form:?}");
            assert!(first.keys().overlap(&escaped.keys), "{form:?}");
            assert!(!first.keys().overlap(&other.keys), "{form:?}");
        }
        // A duplicated field: valid JSON whose key the probe cannot read.
        let unknown = batch(Form::Array, &[r#"{"event_type": "a", "event_type": "b"}"#]);
        let unrelated = batch(
            Form::Array,
            &[r#"{"event_type": "z", "record": {"id": 1}}"#],
        );
        assert!(unknown.keys().overlap(&unrelated.keys));
    }
}
