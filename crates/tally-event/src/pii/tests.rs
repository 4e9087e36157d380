use super::*;

fn kinds(text: &str) -> Vec<PiiKind> {
    find_pii(text).into_iter().map(|found| found.kind).collect()
}

#[test]
fn luhn_valid_and_invalid() {
    for valid in [
        "4111111111111111",
        "4111 1111 1111 1111",
        "5500-0000-0000-0004",
        "378282246310005",
        "79927398713",
    ] {
        assert!(passes_luhn(valid), "{valid}");
    }
    for invalid in [
        "4111111111111112",
        "79927398710",
        "",
        "4111x1111",
        "1234567812345678",
    ] {
        assert!(!passes_luhn(invalid), "{invalid}");
    }
}

#[test]
fn card_numbers_are_found_in_text() {
    assert_eq!(
        kinds("card 4111 1111 1111 1111 exp 12/27"),
        [PiiKind::CardNumber]
    );
    assert_eq!(kinds("4111-1111-1111-1111"), [PiiKind::CardNumber]);
    assert_eq!(kinds("amex 3782 822463 10005"), [PiiKind::CardNumber]);
    assert_eq!(kinds("5555555555554444"), [PiiKind::CardNumber]);
}

#[test]
fn card_lookalikes_are_not_cards() {
    // One digit changed: Luhn fails.
    assert!(kinds("4111 1111 1111 1112").is_empty());
    // Luhn passes but no payment network starts with 0, 1, 7, 8 or 9.
    assert!(passes_luhn("0000000000000000"));
    assert!(kinds("0000000000000000").is_empty());
    // Part of a longer word or number.
    assert!(kinds("id4111111111111111").is_empty());
    assert!(kinds("41111111111111110000").is_empty());
    assert!(kinds("4111111111111111x").is_empty());
    // Too short.
    assert!(kinds("424242424242").is_empty());
}

#[test]
fn ibans_valid_and_invalid() {
    for valid in [
        "GB82WEST12345698765432",
        "DE89370400440532013000",
        "GB82 WEST 1234 5698 7654 32",
        "de89370400440532013000",
        "FR1420041010050500013M02606",
        "NO9386011117947",
    ] {
        assert!(is_valid_iban(valid), "{valid}");
    }
    for invalid in [
        "GB82WEST12345698765433",
        "DE89370400440532013001",
        "GB83WEST12345698765432",
        "DE8937040044053201300",
        "XX89370400440532013000",
        "GB82  WEST12345698765432",
    ] {
        assert!(!is_valid_iban(invalid), "{invalid}");
    }
}

#[test]
fn ibans_are_found_in_text() {
    assert_eq!(
        kinds("pay to GB82 WEST 1234 5698 7654 32 today"),
        [PiiKind::Iban]
    );
    assert_eq!(kinds("iban:DE89370400440532013000."), [PiiKind::Iban]);
    assert!(kinds("DE89370400440532013000X").is_empty());
}

#[test]
fn emails() {
    assert_eq!(kinds("lucas.carter@yourcompany.com"), [PiiKind::Email]);
    assert_eq!(
        kinds("write to John.Doe+bills@mail.example.org."),
        [PiiKind::Email]
    );
    assert!(kinds("l***.c***@yourcompany.com").is_empty());
    assert!(kinds("not an address: a@b, @example.com, user@localhost").is_empty());
    assert!(kinds("user@example.c0m").is_empty());
}

#[test]
fn phones_found() {
    for phone in [
        "+33 6 12 34 56 78",
        "+33612345678",
        "+1 (555) 123-4567",
        "+44 (0)20 7946 0958",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "020 7946 0958",
        "(555) 123-4567",
        "555-123-4567",
        "1-555-123-4567",
    ] {
        assert_eq!(kinds(phone), [PiiKind::Phone], "{phone}");
        assert_eq!(
            kinds(&format!("call {phone}, thanks")),
            [PiiKind::Phone],
            "{phone}"
        );
        assert_eq!(
            kinds(&format!("call {phone} or not")),
            [PiiKind::Phone],
            "{phone}"
        );
    }
}

#[test]
fn phone_lookalikes_are_not_phones() {
    for text in [
        "12345678901",
        "0612345678",
        "2024-12-20",
        "2023-11-12T00:00:00.000Z",
        "2022-01-01 10:00:00",
        "1734710651000",
        "0.123456789",
        "10.255.255.255",
        "ORD-2024-000123",
        "v1.2.3",
        "1 - 2",
        "+12",
        "12.50 EUR",
        "550e8400-e29b-41d4-a716-446655440000",
    ] {
        assert!(kinds(text).is_empty(), "{text}: {:?}", kinds(text));
    }
}

#[test]
fn masking() {
    assert_eq!(mask_word("John"), "J***");
    assert_eq!(mask_word(""), "");
    assert_eq!(
        mask_pii("lucas.carter@yourcompany.com"),
        "l***.c***@yourcompany.com"
    );
    assert_eq!(
        mask_pii("contact: john@gmail.com"),
        "contact: j***@gmail.com"
    );
    assert_eq!(mask_pii("4111 1111 1111 1111"), "4*** **** **** ****");
    assert_eq!(mask_pii("+33 6 12 34 56 78"), "+3* * ** ** ** **");
    assert_eq!(mask_pii("GB82WEST12345698765432"), "G*********************");
    assert_eq!(
        mask_pii("a@b.io or 555-123-4567"),
        "a***@b.io or 5**-***-****"
    );
    assert!(matches!(
        mask_pii("nothing here"),
        std::borrow::Cow::Borrowed(_)
    ));
}

#[test]
fn masking_is_idempotent() {
    for text in [
        "lucas.carter@yourcompany.com",
        "4111 1111 1111 1111",
        "GB82 WEST 1234 5698 7654 32",
        "+33 6 12 34 56 78",
    ] {
        let once = mask_pii(text).into_owned();
        assert!(find_pii(&once).is_empty(), "{once}");
        assert_eq!(mask_pii(&once), once);
    }
}

#[test]
fn policy_names() {
    for policy in PiiPolicy::ALL {
        assert_eq!(policy.as_str().parse::<PiiPolicy>(), Ok(policy));
        let json = serde_json::to_value(policy).unwrap();
        assert_eq!(json, serde_json::Value::String(policy.as_str().to_owned()));
    }
    assert!("block".parse::<PiiPolicy>().is_err());
    assert_eq!(PiiPolicy::default(), PiiPolicy::Warn);
}

#[test]
fn masking_never_pushes_a_value_past_the_string_limit() {
    use crate::validate::{MAX_STRING_BYTES, ValidationConfig, parse_event};
    let email = "a.b.c.d.e.f.g.h@x.io ";
    let text = email.repeat(MAX_STRING_BYTES / email.len());
    assert!(
        mask_pii(email).len() > email.len(),
        "the case must lengthen"
    );
    let json = serde_json::json!({
        "customer_id": "cus_1", "event_type": "signup", "timestamp": 1_700_000_000_000_i64,
        "record": {"id": 1, "emails": text},
    });
    let config = ValidationConfig {
        pii_policy: PiiPolicy::Mask,
        ..ValidationConfig::default()
    };
    let now = crate::Timestamp::from_millis(1_700_000_000_000).unwrap();
    let parsed = parse_event(&json, &config, now).unwrap();
    let stored = parsed
        .event
        .record
        .get("emails")
        .and_then(|v| v.as_str())
        .unwrap();
    assert!(stored.len() <= MAX_STRING_BYTES, "{} bytes", stored.len());
    assert!(stored.starts_with("a***.b***"));
}
