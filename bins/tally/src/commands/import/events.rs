//! The events of a batch, in the form their destination takes: JSON values for
//! a database (`Billing::ingest_batch`), or the JSON array a server's batch
//! endpoint takes, built on the reading thread from the lines as they are.
//!
//! Sending NDJSON lines as they are spares the client a tree of values per
//! event and its serialization, on the same two cores as the server it feeds;
//! a line is still checked to be UTF-8 and one JSON value, since one bad item
//! would make the server refuse the whole array.

use std::ops::Range;

use serde::de::IgnoredAny;
use serde_json::Value;

/// Which form a destination takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Values,
    Array,
}

/// A batch's events in one form.
#[derive(Debug)]
pub enum Events {
    Values(Vec<Value>),
    Array {
        /// `[` and the events separated by commas; [`Events::body`] closes it.
        json: Vec<u8>,
        /// Where each event is in `json`.
        items: Vec<Range<usize>>,
    },
}

impl Events {
    pub fn new(form: Form) -> Events {
        match form {
            Form::Values => Events::Values(Vec::new()),
            Form::Array => Events::Array {
                json: b"[".to_vec(),
                items: Vec::new(),
            },
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Events::Values(values) => values.len(),
            Events::Array { items, .. } => items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a line that holds one JSON value; false, and nothing added, when
    /// it does not.
    pub fn push_line(&mut self, line: &[u8]) -> bool {
        match self {
            Events::Values(values) => match serde_json::from_slice(line) {
                Ok(value) => {
                    values.push(value);
                    true
                }
                Err(_) => false,
            },
            Events::Array { json, items } => {
                let one_value = std::str::from_utf8(line).is_ok()
                    && serde_json::from_slice::<IgnoredAny>(line).is_ok();
                if one_value {
                    push_item(json, items, line);
                }
                one_value
            }
        }
    }

    /// Adds an event built here (from a CSV row).
    pub fn push_value(&mut self, event: Value) {
        match self {
            Events::Values(values) => values.push(event),
            Events::Array { json, items } => push_item(json, items, event.to_string().as_bytes()),
        }
    }

    /// Event `index` as a value, for the rejects file.
    pub fn value(&self, index: usize) -> Option<Value> {
        match self {
            Events::Values(values) => values.get(index).cloned(),
            Events::Array { json, items } => {
                let item = json.get(items.get(index)?.clone())?;
                serde_json::from_slice(item).ok()
            }
        }
    }

    /// The JSON array of the events, when they are held as one.
    pub fn body(&self) -> Option<Vec<u8>> {
        match self {
            Events::Values(_) => None,
            Events::Array { json, .. } => {
                let mut body = Vec::with_capacity(json.len() + 1);
                body.extend_from_slice(json);
                body.push(b']');
                Some(body)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_an_array_and_each_event_is_found_again() {
        let mut events = Events::new(Form::Array);
        assert!(events.push_line(br#"{"a": 1.50}"#));
        assert!(!events.push_line(b"{\"a\": "));
        assert!(!events.push_line(b"1 2"));
        assert!(!events.push_line(b"\"\xff\""));
        events.push_value(serde_json::json!({"b": "x"}));
        assert!(events.push_line(b"[]  "));
        assert_eq!(events.len(), 3);
        let body = events.body().unwrap();
        assert_eq!(body, br#"[{"a": 1.50},{"b":"x"},[]  ]"#);
        let parsed: Vec<Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(events.value(0), Some(parsed[0].clone()));
        assert_eq!(events.value(1), Some(serde_json::json!({"b": "x"})));
        assert_eq!(events.value(3), None);
    }

    #[test]
    fn values_are_kept_parsed() {
        let mut events = Events::new(Form::Values);
        assert!(events.push_line(br#"{"a": 1}"#));
        assert!(!events.push_line(b"nope"));
        assert_eq!(events.len(), 1);
        assert_eq!(events.body(), None);
        assert_eq!(events.value(0), Some(serde_json::json!({"a": 1})));
    }
}
