//! French phone numbers, metropolitan and overseas, normalised to E.164 so
//! the same number is always written the same way and SMS go only to mobiles
//! (RDV Service Public sends SMS to mobile numbers only).

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// National prefixes of the overseas départements: the digits after the
/// leading 0, and the country code they dial as.
const OVERSEAS: [(&str, &str); 12] = [
    ("590", "590"), // Guadeloupe, fixed
    ("690", "590"), // Guadeloupe, mobile
    ("691", "590"),
    ("596", "596"), // Martinique, fixed
    ("696", "596"), // Martinique, mobile
    ("697", "596"),
    ("594", "594"), // Guyane, fixed
    ("694", "594"), // Guyane, mobile
    ("262", "262"), // La Réunion, fixed
    ("692", "262"), // La Réunion, mobile
    ("693", "262"),
    ("639", "262"), // Mayotte, mobile
];

/// Mobile ranges, as E.164 prefixes.
const MOBILE: [&str; 11] = [
    "+336", "+337", "+590690", "+590691", "+596696", "+596697", "+594694", "+262692", "+262693", "+262639", "+687",
];

/// A phone number in E.164 (`+33612345678`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneE164(String);

impl PhoneE164 {
    /// Reads `06 12 34 56 78`, `+33 6 12 34 56 78`, `0033612345678`,
    /// `0692 12 34 56` (La Réunion), `+687 12 34 56` (Nouvelle-Calédonie)...
    pub fn parse(raw: &str, field: &str) -> Result<Self, DomainError> {
        let invalid = || {
            DomainError::invalid(
                field,
                "must be a French phone number such as 06 12 34 56 78 or +262 692 12 34 56",
            )
        };
        let compact: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
            .collect();
        let international = compact
            .strip_prefix("00")
            .map(|rest| format!("+{rest}"))
            .unwrap_or(compact);
        let e164 = match international.strip_prefix('+') {
            Some(digits) => format!("+{digits}"),
            None => {
                let national = international.strip_prefix('0').ok_or_else(invalid)?;
                if national.len() != 9 {
                    return Err(invalid());
                }
                let country = OVERSEAS
                    .iter()
                    .find(|(prefix, _)| national.starts_with(prefix))
                    .map_or("33", |(_, code)| code);
                format!("+{country}{national}")
            }
        };
        let digits = &e164[1..];
        let plausible = digits.chars().all(|c| c.is_ascii_digit())
            && match digits {
                d if d.starts_with("33") => d.len() == 11 && !d[2..].starts_with('0'),
                d if d.starts_with("687") => d.len() == 9,
                d if ["590", "596", "594", "262"].iter().any(|c| d.starts_with(c)) => d.len() == 12,
                d => (8..=15).contains(&d.len()),
            };
        if plausible { Ok(Self(e164)) } else { Err(invalid()) }
    }

    /// Whether SMS can reach it.
    pub fn is_mobile(&self) -> bool {
        MOBILE.iter().any(|prefix| self.0.starts_with(prefix))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number as French usagers dial it: `04 75 11 22 33`, `0692 12 34
    /// 56` overseas; E.164 where there is no national form (+687).
    pub fn national(&self) -> String {
        let overseas = ["+590", "+596", "+594", "+262"];
        let (rest, head_len) = if let Some(rest) = self.0.strip_prefix("+33") {
            (rest, 1)
        } else if let Some(code) = overseas.iter().find(|c| self.0.starts_with(*c)) {
            (&self.0[code.len()..], 3)
        } else {
            return self.0.clone();
        };
        if rest.len() != 9 {
            return self.0.clone();
        }
        let digits = format!("0{rest}");
        let (head, tail) = digits.split_at(head_len + 1);
        let pairs: Vec<&str> = (0..tail.len())
            .step_by(2)
            .map(|i| &tail[i..(i + 2).min(tail.len())])
            .collect();
        format!("{head} {}", pairs.join(" "))
    }
}

impl TryFrom<String> for PhoneE164 {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        PhoneE164::parse(&raw, "phone").map_err(|e| e.message)
    }
}

impl From<PhoneE164> for String {
    fn from(phone: PhoneE164) -> String {
        phone.0
    }
}

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_back_in_their_national_form() {
        let national = |raw: &str| PhoneE164::parse(raw, "p").unwrap().national();
        assert_eq!(national("+33475112233"), "04 75 11 22 33");
        assert_eq!(national("0692 12 34 56"), "0692 12 34 56");
        assert_eq!(national("+687 12 34 56"), "+687123456");
    }

    fn e164(raw: &str) -> String {
        PhoneE164::parse(raw, "phone").unwrap().to_string()
    }

    #[test]
    fn metropolitan_and_overseas_numbers_normalise() {
        assert_eq!(e164("06 12 34 56 78"), "+33612345678");
        assert_eq!(e164("+33 6 12 34 56 78"), "+33612345678");
        assert_eq!(e164("0033612345678"), "+33612345678");
        assert_eq!(e164("01.23.45.67.89"), "+33123456789");
        assert_eq!(e164("0692 12 34 56"), "+262692123456", "La Réunion mobile");
        assert_eq!(e164("0262 12 34 56"), "+262262123456", "La Réunion fixed");
        assert_eq!(e164("0690 12 34 56"), "+590690123456", "Guadeloupe");
        assert_eq!(e164("0696 12 34 56"), "+596696123456", "Martinique");
        assert_eq!(e164("0694 12 34 56"), "+594694123456", "Guyane");
        assert_eq!(e164("0639 12 34 56"), "+262639123456", "Mayotte");
        assert_eq!(e164("+687 12 34 56"), "+687123456", "Nouvelle-Calédonie");
    }

    #[test]
    fn only_mobiles_take_sms() {
        for mobile in [
            "06 12 34 56 78",
            "07 12 34 56 78",
            "0692 12 34 56",
            "0696 12 34 56",
            "0639 12 34 56",
        ] {
            assert!(PhoneE164::parse(mobile, "phone").unwrap().is_mobile(), "{mobile}");
        }
        for fixed in ["01 23 45 67 89", "0262 12 34 56", "0590 12 34 56"] {
            assert!(!PhoneE164::parse(fixed, "phone").unwrap().is_mobile(), "{fixed}");
        }
    }

    #[test]
    fn nonsense_is_refused_naming_the_field() {
        for bad in [
            "",
            "12345",
            "06 12 34",
            "+33 0 12 34 56 78",
            "phone",
            "06 12 34 56 78 90",
        ] {
            assert_eq!(
                PhoneE164::parse(bad, "usager.phone").unwrap_err().errors[0].field,
                "usager.phone",
                "{bad}"
            );
        }
    }
}
