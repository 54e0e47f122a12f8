//! Letters agents print and post: the convocation letter and the postal
//! invitation (rdv-insertion's `GenerateLetter`), as real PDF documents.
//! Text is set in the standard Helvetica fonts (every reader has them, so
//! nothing is embedded) with WinAnsi encoding, which covers French.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use rdv_domain::values::TimeZone;

/// One paragraph of a letter.
pub enum Block {
    /// Bold, for the subject.
    Strong(String),
    Text(String),
    /// Vertical space.
    Gap,
}

/// A letter: who sends it (the header), to whom, and its paragraphs.
pub struct Letter {
    pub title: String,
    pub sender: Vec<String>,
    pub recipient: Vec<String>,
    pub blocks: Vec<Block>,
}

const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 60.0;
const SIZE: f32 = 11.0;
const LEADING: f32 = 15.0;
/// Helvetica's average advance is about half an em for French text: lines
/// of this many characters fill the text width.
const CHARS_PER_LINE: usize = 86;

impl Letter {
    /// The PDF bytes: A4 pages, the sender top left, the recipient on the
    /// right (for a window envelope), then the paragraphs, wrapped.
    pub fn render(&self) -> Vec<u8> {
        let mut lines: Vec<(bool, String)> = Vec::new();
        lines.extend(self.sender.iter().map(|l| (true, l.clone())));
        lines.push((false, String::new()));
        lines.extend(self.recipient.iter().map(|l| (false, format!("{:>60}{l}", ""))));
        lines.push((false, String::new()));
        for block in &self.blocks {
            match block {
                Block::Gap => lines.push((false, String::new())),
                Block::Strong(text) => lines.extend(wrap(text).into_iter().map(|l| (true, l))),
                Block::Text(text) => lines.extend(wrap(text).into_iter().map(|l| (false, l))),
            }
        }
        let per_page = ((PAGE.1 - 2.0 * MARGIN) / LEADING) as usize;
        let pages: Vec<&[(bool, String)]> = lines.chunks(per_page.max(1)).collect();
        let (catalog, tree, regular, bold, info) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5));
        let mut pdf = Pdf::new();
        pdf.catalog(catalog).pages(tree);
        let page_ids: Vec<Ref> = (0..pages.len()).map(|i| Ref::new(10 + 2 * i as i32)).collect();
        pdf.pages(tree).kids(page_ids.iter().copied()).count(pages.len() as i32);
        for (i, page_lines) in pages.iter().enumerate() {
            let (page_id, content_id) = (page_ids[i], Ref::new(11 + 2 * i as i32));
            let mut page = pdf.page(page_id);
            page.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1))
                .parent(tree)
                .contents(content_id);
            let mut resources = page.resources();
            resources.fonts().pair(Name(b"F1"), regular).pair(Name(b"F2"), bold);
            resources.finish();
            page.finish();
            let mut content = Content::new();
            content.begin_text();
            content.set_leading(LEADING);
            content.next_line(MARGIN, PAGE.1 - MARGIN);
            for (strong, line) in page_lines.iter() {
                let font = if *strong { Name(b"F2") } else { Name(b"F1") };
                content.set_font(font, SIZE);
                content.show(Str(&win_ansi(line)));
                content.next_line_using_leading();
            }
            content.end_text();
            pdf.stream(content_id, &content.finish());
        }
        for (id, name) in [(regular, &b"Helvetica"[..]), (bold, &b"Helvetica-Bold"[..])] {
            pdf.type1_font(id)
                .base_font(Name(name))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        pdf.document_info(info)
            .title(TextStr(&self.title))
            .creator(TextStr("rdv-events"));
        pdf.finish()
    }
}

/// What the letters of a category say, besides the RDV.
pub struct LetterContext<'a> {
    pub texts: &'a rdv_domain::category::CategoryTexts,
    pub organisation: &'a rdv_domain::organisation::OrganisationState,
    pub help_phone: &'a str,
    pub zone: TimeZone,
    pub today: NaiveDate,
}

impl LetterContext<'_> {
    fn sender(&self) -> Vec<String> {
        let details = &self.organisation.details;
        let mut lines = vec![details.name.to_string()];
        lines.extend(details.address.clone());
        lines.extend(details.phone.as_ref().map(|p| format!("Tél. : {p}")));
        lines
    }

    /// The letter: the sender's header, the recipient, the paragraphs and
    /// the closing.
    fn letter(&self, title: String, usager: &rdv_domain::usager::UsagerProfile, mut blocks: Vec<Block>) -> Letter {
        blocks.extend(self.closing());
        Letter {
            title,
            sender: self.sender(),
            recipient: recipient(usager),
            blocks,
        }
    }

    fn closing(&self) -> Vec<Block> {
        vec![
            Block::Gap,
            Block::Text(format!(
                "Le {}, pour {}.",
                french_date(self.today),
                self.organisation.details.name
            )),
            Block::Text("Le service en charge de votre accompagnement".into()),
        ]
    }
}

/// Every letter opens on its subject, the CAF number and the addressee.
fn opening(subject: String, usager: &rdv_domain::usager::UsagerProfile) -> Vec<Block> {
    let mut blocks = vec![Block::Strong(subject)];
    blocks.extend(
        usager
            .affiliation_number
            .as_ref()
            .map(|n| Block::Text(format!("Numéro d'allocataire : {n}"))),
    );
    blocks.push(Block::Gap);
    blocks.push(Block::Text(format!(
        "{},",
        crate::insertion_messages::addressee(usager)
    )));
    blocks
}

/// The usager as letters address them: civility, name, address.
fn recipient(usager: &rdv_domain::usager::UsagerProfile) -> Vec<String> {
    let mut lines = vec![crate::insertion_messages::addressee(usager)];
    lines.extend(usager.address.clone());
    lines
}

/// The convocation letter (rdv-insertion's
/// `letters/notifications/presential_participation_created`), or its
/// cancellation.
pub fn convocation_letter(
    ctx: &LetterContext<'_>,
    usager: &rdv_domain::usager::UsagerProfile,
    starts_at: DateTime<Utc>,
    place: Option<&str>,
    instructions: Option<&str>,
    cancelled: bool,
) -> Letter {
    let t = ctx.texts;
    let title = if place.is_some() {
        &t.rdv_title
    } else {
        &t.rdv_title_by_phone
    };
    let when = french_date_time(starts_at, ctx.zone);
    let subject = format!(
        "Objet : Convocation à un {title} dans le cadre de votre {}",
        t.rdv_subject
    );
    let mut blocks = opening(subject, usager);
    if cancelled {
        blocks.push(Block::Text(format!(
            "Votre {title} prévu le {when} dans le cadre de votre {} est annulé. Pour plus d'informations, \
             contactez le {}.",
            t.rdv_subject, ctx.help_phone
        )));
    } else {
        blocks.push(Block::Text(format!(
            "Vous êtes {} et vous êtes convoqué(e) à un {title} afin de {}.",
            t.user_designation, t.rdv_purpose
        )));
        blocks.push(Block::Text(match place {
            Some(place) => format!("Vous êtes attendu(e) le {when} à l'adresse suivante : {place}."),
            None => format!("Un travailleur social vous appellera le {when} sur votre téléphone."),
        }));
        if t.display_mandatory_warning {
            blocks.push(Block::Text("Ce rendez-vous est obligatoire.".into()));
        }
        blocks.extend(instructions.map(|i| Block::Text(i.to_string())));
        blocks.extend(
            t.punishable_warning
                .as_ref()
                .map(|w| Block::Text(format!("En cas d'absence, {w}."))),
        );
        blocks.push(Block::Text(format!(
            "En cas d'empêchement, merci d'appeler rapidement le {}.",
            ctx.help_phone
        )));
    }
    ctx.letter(format!("Convocation à un {title}"), usager, blocks)
}

/// The postal invitation (rdv-insertion's `letters/invitations/standard`):
/// what to book, by when, and the short link to book it.
pub fn invitation_letter(
    ctx: &LetterContext<'_>,
    usager: &rdv_domain::usager::UsagerProfile,
    link: &str,
    within_three_days: bool,
) -> Letter {
    let t = ctx.texts;
    let delay = if within_three_days {
        " dans un délai de 3 jours à réception de ce courrier"
    } else {
        ""
    };
    let subject = format!(
        "Objet : {} - prenez rendez-vous pour votre {}",
        t.rdv_subject, t.rdv_title
    );
    let mut blocks = opening(subject, usager);
    blocks.push(Block::Text(format!(
        "Vous êtes {} et vous devez prendre un {} afin de {}.",
        t.user_designation, t.rdv_title, t.rdv_purpose
    )));
    blocks.extend(t.custom_sentence.as_ref().map(|s| Block::Text(s.clone())));
    blocks.push(Block::Text(format!(
        "Pour choisir la date et l'horaire du rendez-vous{delay}, rendez-vous sur : {link}"
    )));
    if t.display_mandatory_warning {
        blocks.push(Block::Text("Ce rendez-vous est obligatoire.".into()));
    }
    blocks.extend(
        t.punishable_warning
            .as_ref()
            .map(|w| Block::Text(format!("En l'absence de prise de rendez-vous, {w}."))),
    );
    blocks.push(Block::Text(format!(
        "En cas de difficulté, contactez le {}.",
        ctx.help_phone
    )));
    ctx.letter(format!("Invitation à un {}", t.rdv_title), usager, blocks)
}

/// Words wrapped into lines of at most [`CHARS_PER_LINE`] characters.
fn wrap(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > CHARS_PER_LINE {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines
}

/// Text in WinAnsiEncoding (Windows-1252): Latin-1 plus typographic
/// quotes, dashes, œ and €; anything else becomes `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{ff}' => c as u8,
            '€' => 0x80,
            '…' => 0x85,
            'Œ' => 0x8c,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            '—' => 0x97,
            'œ' => 0x9c,
            _ => b'?',
        })
        .collect()
}

const DAYS: [&str; 7] = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"];
const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// "lundi 19 janvier 2026".
pub fn french_date(day: NaiveDate) -> String {
    let weekday = DAYS[day.weekday().num_days_from_monday() as usize];
    let month = MONTHS[day.month0() as usize];
    let first = if day.day() == 1 {
        "1er".to_string()
    } else {
        day.day().to_string()
    };
    format!("{weekday} {first} {month} {}", day.year())
}

/// "lundi 19 janvier 2026 à 09h00" in the zone.
pub fn french_date_time(at: DateTime<Utc>, zone: TimeZone) -> String {
    let local = at.with_timezone(&zone.0);
    format!(
        "{} à {:02}h{:02}",
        french_date(local.date_naive()),
        local.hour(),
        local.minute()
    )
}

/// A file-name-safe form: ASCII letters and digits, the rest `_`.
pub fn file_name_part(text: &str) -> String {
    let folded = rdv_projections::usagers::fold(text);
    folded
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_french_letters_write_them() {
        let at = "2026-01-19T08:00:00Z".parse().unwrap();
        assert_eq!(french_date_time(at, TimeZone::PARIS), "lundi 19 janvier 2026 à 09h00");
        assert_eq!(
            french_date(NaiveDate::from_ymd_opt(2026, 8, 1).unwrap()),
            "samedi 1er août 2026"
        );
    }

    #[test]
    fn french_text_encodes_to_win_ansi_and_wraps() {
        assert_eq!(win_ansi("é’œ€→"), vec![0xe9, 0x92, 0x9c, 0x80, b'?']);
        let long = "mot ".repeat(60);
        assert!(wrap(&long).iter().all(|l| l.chars().count() <= CHARS_PER_LINE));
        assert_eq!(file_name_part("Hélène Dupré-Roux"), "helene_dupre_roux");
    }

    #[test]
    fn a_letter_is_a_pdf_document() {
        let letter = Letter {
            title: "Convocation".into(),
            sender: vec!["CD 26".into()],
            recipient: vec!["Madame Ada DURAND".into()],
            blocks: vec![
                Block::Strong("Objet : convocation".into()),
                Block::Gap,
                Block::Text("x ".repeat(6000)),
            ],
        };
        let bytes = letter.render();
        assert!(bytes.starts_with(b"%PDF-"));
        assert!(bytes.windows(5).any(|w| w == b"%%EOF"));
        let pages = bytes.windows(10).filter(|w| *w == b"/Type /Pag").count();
        assert!(pages >= 3, "the long text runs over several pages: {pages}");
    }
}
