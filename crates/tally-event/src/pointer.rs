//! JSON pointers (RFC 6901) for error and warning paths.

/// The pointer to a record property: `/record/address`, with `~` and `/` escaped.
pub(crate) fn record_property(key: &str) -> String {
    let mut path = String::with_capacity(8 + key.len());
    path.push_str("/record/");
    for c in key.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
    path
}

/// The pointer to one item of an array property: `/record/tags/3`.
pub(crate) fn record_item(key: &str, index: usize) -> String {
    format!("{}/{index}", record_property(key))
}

/// The pointer to a top-level field: `/customer_id`.
pub(crate) fn field(name: &str) -> String {
    let mut path = String::with_capacity(1 + name.len());
    path.push('/');
    for c in name.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_tilde_and_slash() {
        assert_eq!(record_property("a/b~c"), "/record/a~1b~0c");
        assert_eq!(record_item("tags", 3), "/record/tags/3");
        assert_eq!(record_property(""), "/record/");
        assert_eq!(field("x/y"), "/x~1y");
    }
}
