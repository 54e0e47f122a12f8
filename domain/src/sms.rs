//! SMS length rules: a message in the GSM 03.38 alphabet takes 160
//! characters per SMS (153 per part once split), anything else is sent in
//! UCS-2 at 70 (67 per part). Extension characters (€, [, ]...) count twice
//! in GSM-7. Texts are written to stay within a known number of parts.

/// How an SMS text is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsEncoding {
    Gsm7,
    Ucs2,
}

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

/// The encoding a text needs and the number of SMS it takes.
pub fn sms_parts(text: &str) -> (SmsEncoding, usize) {
    let mut septets: usize = 0;
    let mut gsm = true;
    for c in text.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENSION.contains(c) {
            septets += 2;
        } else {
            gsm = false;
            break;
        }
    }
    if gsm {
        (
            SmsEncoding::Gsm7,
            if septets <= 160 { 1 } else { septets.div_ceil(153) },
        )
    } else {
        let units: usize = text.chars().map(char::len_utf16).sum();
        (SmsEncoding::Ucs2, if units <= 70 { 1 } else { units.div_ceil(67) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_and_ucs2_are_counted_by_their_own_rules() {
        assert_eq!(sms_parts(&"a".repeat(160)), (SmsEncoding::Gsm7, 1));
        assert_eq!(sms_parts(&"a".repeat(161)), (SmsEncoding::Gsm7, 2));
        assert_eq!(sms_parts(&"a".repeat(306)), (SmsEncoding::Gsm7, 2));
        assert_eq!(sms_parts(&"a".repeat(307)), (SmsEncoding::Gsm7, 3));
        assert_eq!(
            sms_parts(&"€".repeat(80)),
            (SmsEncoding::Gsm7, 1),
            "extension characters count twice"
        );
        assert_eq!(sms_parts(&"€".repeat(81)), (SmsEncoding::Gsm7, 2));
        assert_eq!(
            sms_parts("Votre RDV est confirmé à 09:00, rue Émile Zola"),
            (SmsEncoding::Gsm7, 1),
            "é, à and É are in GSM-7"
        );
        assert_eq!(sms_parts("Rendez-vous confirmé ✓"), (SmsEncoding::Ucs2, 1));
        assert_eq!(sms_parts(&"ê".repeat(71)), (SmsEncoding::Ucs2, 2), "ê is not GSM-7");
        assert_eq!(sms_parts(&"ê".repeat(134)), (SmsEncoding::Ucs2, 2));
        assert_eq!(sms_parts(&"ê".repeat(135)), (SmsEncoding::Ucs2, 3));
    }
}
