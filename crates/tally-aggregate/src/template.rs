//! `custom_event_name` templates: `{record.work_email} ({record.id})`.
//!
//! Placeholders: `{record.KEY}` (a record property; missing or null renders as
//! nothing, numbers exactly, arrays comma-separated), `{event_type}`,
//! `{customer_id}` and `{timestamp}` (RFC 3339, UTC). `{{` and `}}` write a brace.

use tally_event::{Event, Scalar, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Record(String),
    EventType,
    CustomerId,
    Timestamp,
}

impl Template {
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err("unclosed { in template".to_owned());
                    }
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                    parts.push(placeholder(&name)?);
                }
                '}' => return Err("unmatched } in template: write }} for a brace".to_owned()),
                c => literal.push(c),
            }
        }
        parts.push(Part::Text(literal));
        parts.retain(|part| !matches!(part, Part::Text(t) if t.is_empty()));
        Ok(Template { parts })
    }

    pub(crate) fn render(&self, event: &Event) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Record(key) => render_value(event.record.get(key), &mut out),
                Part::EventType => out.push_str(event.event_type.as_str()),
                Part::CustomerId => out.push_str(event.customer.as_str()),
                Part::Timestamp => out.push_str(&event.timestamp.to_rfc3339()),
            }
        }
        out
    }
}

fn placeholder(name: &str) -> Result<Part, String> {
    match name {
        "event_type" => Ok(Part::EventType),
        "customer_id" => Ok(Part::CustomerId),
        "timestamp" => Ok(Part::Timestamp),
        _ => match name.strip_prefix("record.") {
            Some(key) if !key.is_empty() && !key.contains('{') => Ok(Part::Record(key.to_owned())),
            _ => Err(format!(
                "unknown placeholder {{{name}}}: use {{record.KEY}}, {{event_type}}, {{customer_id}} or {{timestamp}}"
            )),
        },
    }
}

fn render_value(value: Option<&Value>, out: &mut String) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::Number(n)) => out.push_str(&n.normalize().to_string()),
        Some(Value::String(s)) => out.push_str(s),
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                match item {
                    Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                    Scalar::Number(n) => out.push_str(&n.normalize().to_string()),
                    Scalar::String(s) => out.push_str(s),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_malformed_templates() {
        assert!(Template::parse("{record.a").is_err());
        assert!(Template::parse("a}").is_err());
        assert!(Template::parse("{nope}").is_err());
        assert!(Template::parse("{record.}").is_err());
        assert!(Template::parse("{{literal}} {record.a}").is_ok());
    }
}
