//! GTIN/EAN barcodes, the codes printed on the store's items: 8, 12, 13 or
//! 14 digits, the last a check digit over the others.

/// The check digit for `body` (the digits without the check digit), or
/// `None` if `body` is not all digits.
pub fn check_digit(body: &str) -> Option<u32> {
    let mut sum = 0;
    for (i, c) in body.chars().rev().enumerate() {
        let d = c.to_digit(10)?;
        sum += if i % 2 == 0 { d * 3 } else { d };
    }
    Some((10 - sum % 10) % 10)
}

/// Whether `code` is a GTIN-8, -12, -13 or -14 with a correct check digit.
pub fn is_valid(code: &str) -> bool {
    if ![8, 12, 13, 14].contains(&code.len()) || !code.is_ascii() {
        return false;
    }
    let (body, check) = code.split_at(code.len() - 1);
    match (
        check_digit(body),
        check.chars().next().and_then(|c| c.to_digit(10)),
    ) {
        (Some(want), Some(got)) => want == got,
        _ => false,
    }
}

/// `body` with its check digit appended (`None` if `body` is not digits).
pub fn with_check_digit(body: &str) -> Option<String> {
    check_digit(body).map(|d| format!("{body}{d}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digits() {
        for (code, ok) in [
            ("4006381333931", true),  // EAN-13
            ("4006381333932", false), // wrong check digit
            ("73513537", true),       // EAN-8
            ("036000291452", true),   // UPC-A
            ("10036000291459", true), // GTIN-14
            ("40063813339", false),   // 11 digits
            ("40063813339a1", false),
            ("400638133393½", false),
            ("", false),
        ] {
            assert_eq!(is_valid(code), ok, "{code}");
        }
        assert_eq!(
            with_check_digit("400638133393").as_deref(),
            Some("4006381333931")
        );
        assert_eq!(with_check_digit("12x"), None);
    }
}
