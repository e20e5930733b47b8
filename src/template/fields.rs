//! Merge tags and fields: `{{ field }}` and `{{ field | default: "there" }}` in a text layer,
//! and the rule that a field which is missing, empty, too long, invalid or denied falls back to
//! its default — never to an error. Pure functions over plain data.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::macros::format_description;

/// A piece of a text layer's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Segment {
    /// Printed as written.
    Literal(String),
    /// Replaced by the field's value, or by `default` (else the field's own default).
    Tag {
        field: String,
        default: Option<String>,
    },
}

/// Why a text's merge tags cannot be read; `at` is the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at}")]
pub struct TagError {
    pub what: &'static str,
    pub at: usize,
}

/// Splits `text` into literals and merge tags. `{{` opens a tag and `}}` closes it; inside,
/// a field name (letters, digits, `_`, `-`, `.`) and optionally `| default: "…"` (a JSON-style
/// string with `\"` and `\\` escapes).
pub fn parse(text: &str) -> Result<Vec<Segment>, TagError> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Segment::Literal(rest[..open].to_string()));
        }
        let inner_start = open + 2;
        let (tag, used) = parse_tag(&rest[inner_start..], offset + inner_start)?;
        out.push(tag);
        offset += inner_start + used;
        rest = &rest[inner_start + used..];
    }
    if !rest.is_empty() {
        out.push(Segment::Literal(rest.to_string()));
    }
    Ok(out)
}

/// A text with merge tags (a text layer's text, an image layer's source), read once: as
/// written, which is what a document holds, and as segments, which requests fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    text: String,
    segments: Vec<Segment>,
}

impl Tagged {
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Whether it reads the same for every request: no merge tags.
    pub fn is_literal(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }
}

impl FromStr for Tagged {
    type Err = TagError;

    fn from_str(text: &str) -> Result<Tagged, TagError> {
        Ok(Tagged {
            segments: parse(text)?,
            text: text.to_string(),
        })
    }
}

impl Serialize for Tagged {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Tagged {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tagged, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One tag after its `{{`: the segment and how many bytes it used, through `}}`.
fn parse_tag(s: &str, at: usize) -> Result<(Segment, usize), TagError> {
    let err = |what, i: usize| TagError { what, at: at + i };
    let mut i = skip_spaces(s, 0);
    let name_start = i;
    while let Some(c) = s[i..].chars().next() {
        if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
            i += c.len_utf8();
        } else {
            break;
        }
    }
    if i == name_start {
        return Err(err("expected a field name", i));
    }
    let field = s[name_start..i].to_string();
    i = skip_spaces(s, i);
    let mut default = None;
    if s[i..].starts_with('|') {
        i = skip_spaces(s, i + 1);
        if !s[i..].starts_with("default") {
            return Err(err("the only filter is `default`", i));
        }
        i = skip_spaces(s, i + "default".len());
        if !s[i..].starts_with(':') {
            return Err(err("expected `:` after `default`", i));
        }
        i = skip_spaces(s, i + 1);
        let (value, used) =
            parse_string(&s[i..]).ok_or_else(|| err("expected a quoted default", i))?;
        default = Some(value);
        i = skip_spaces(s, i + used);
    }
    if !s[i..].starts_with("}}") {
        return Err(err("expected `}}`", i));
    }
    Ok((Segment::Tag { field, default }, i + 2))
}

fn skip_spaces(s: &str, mut i: usize) -> usize {
    while s[i..].starts_with([' ', '\t']) {
        i += 1;
    }
    i
}

/// A `"…"` string with `\"` and `\\` escapes: its value and its length in bytes.
fn parse_string(s: &str) -> Option<(String, usize)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next()?.1 {
                e @ ('"' | '\\') => out.push(e),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

/// What a field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// Any text (after trimming).
    #[default]
    Text,
    /// An integer or decimal number.
    Number,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An `http(s)://` URL or a Tessera identifier (for image layers).
    Url,
}

/// A field of a template, as declared in its `fields`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[serde(default)]
    pub kind: FieldKind,
    /// Longest accepted value in characters.
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// A regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Whether the field may arrive unsigned (e.g. filled in by an email platform).
    #[serde(default)]
    pub open: bool,
    /// What is shown when the value is missing or refused.
    #[serde(default)]
    pub default: String,
}

fn default_max_length() -> usize {
    64
}

/// Why a value was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Missing,
    Empty,
    TooLong,
    Invalid,
    Denied,
    /// No shipped font can draw one of its characters.
    Uncovered,
    /// An email platform's merge tag that was never filled in (`*|FNAME|*`, `{{ name }}`).
    Unfilled,
}

impl Fallback {
    /// The reason as shown in `X-Tessera-Fallbacks` and usage reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::Missing => "missing",
            Fallback::Empty => "empty",
            Fallback::TooLong => "too-long",
            Fallback::Invalid => "invalid",
            Fallback::Denied => "denied",
            Fallback::Uncovered => "uncovered",
            Fallback::Unfilled => "unfilled",
        }
    }
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field's checks, compiled once per template version.
#[derive(Debug, Clone)]
pub struct Field {
    pub spec: FieldSpec,
    pattern: Option<Regex>,
}

impl Field {
    /// Compiles the pattern, anchored to the whole value.
    pub fn new(spec: FieldSpec) -> Result<Field, regex::Error> {
        let pattern = match &spec.pattern {
            Some(p) => Some(Regex::new(&format!("^(?:{p})$"))?),
            None => None,
        };
        Ok(Field { spec, pattern })
    }

    /// The value to print: `value` trimmed when it passes every check, else the default
    /// (`tag_default` when the tag has one) and the reason. `refuse` applies the caller's
    /// further checks to a value that passed the field's own (the word denylist for unsigned
    /// values, font coverage).
    pub fn resolve(
        &self,
        value: Option<&str>,
        tag_default: Option<&str>,
        refuse: impl Fn(&str) -> Option<Fallback>,
    ) -> (String, Option<Fallback>) {
        let checked = match value.map(str::trim) {
            None => Err(Fallback::Missing),
            Some("") => Err(Fallback::Empty),
            Some(v) if v.chars().count() > self.spec.max_length => Err(Fallback::TooLong),
            Some(v) if !self.kind_accepts(v) => Err(Fallback::Invalid),
            Some(v) if self.pattern.as_ref().is_some_and(|p| !p.is_match(v)) => {
                Err(Fallback::Invalid)
            }
            Some(v) => refuse(v).map_or(Ok(v), Err),
        };
        match checked {
            Ok(v) => (v.to_string(), None),
            Err(why) => (
                tag_default.unwrap_or(&self.spec.default).to_string(),
                Some(why),
            ),
        }
    }

    fn kind_accepts(&self, v: &str) -> bool {
        match self.spec.kind {
            FieldKind::Text => !v.chars().any(char::is_control),
            FieldKind::Number => v.parse::<f64>().is_ok_and(f64::is_finite),
            FieldKind::Date => is_date(v),
            FieldKind::Url => {
                (v.starts_with("https://") || v.starts_with("http://") || !v.contains(':'))
                    && !v.chars().any(char::is_whitespace)
            }
        }
    }
}

/// `YYYY-MM-DD` with a real month and a day that month can have.
fn is_date(v: &str) -> bool {
    // `[year]` also takes a sign (`+2026-…`); the format starts with its four digits.
    v.starts_with(|c: char| c.is_ascii_digit())
        && time::Date::parse(v, format_description!("[year]-[month]-[day]")).is_ok()
}

/// Whether `value` is an email platform's merge tag left unreplaced — Mailchimp `*|FNAME|*`,
/// HubSpot/Klaviyo/Liquid `{{ … }}` or `{% … %}`, Salesforce Marketing Cloud `%%…%%`,
/// ActiveCampaign `%FIRSTNAME%`, Campaign Monitor `[firstname,fallback=]` — which must never
/// be printed on an image.
pub fn is_unfilled_tag(value: &str) -> bool {
    let v = value.trim();
    let wrapped = |open: &str, close: &str| {
        v.len() > open.len() + close.len() && v.starts_with(open) && v.ends_with(close)
    };
    let inner = |open: &str, close: &str| &v[open.len()..v.len() - close.len()];
    // ActiveCampaign's tags are upper-case names; "%50%" or "100%" are real values.
    let active_campaign = wrapped("%", "%")
        && inner("%", "%")
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && inner("%", "%").bytes().any(|b| b.is_ascii_uppercase());
    // Campaign Monitor: `[name,fallback=…]`, or one of its built-in names alone; a plain
    // `[Beta]` or `[EN]` may be a real value.
    let campaign_monitor = wrapped("[", "]") && {
        let tag = inner("[", "]");
        match tag.split_once(",fallback=") {
            Some((name, _)) => {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            }
            None => matches!(tag, "email" | "firstname" | "lastname" | "fullname"),
        }
    };
    wrapped("*|", "|*")
        || wrapped("{{", "}}")
        || wrapped("{%", "%}")
        || wrapped("%%", "%%")
        || active_campaign
        || campaign_monitor
}

/// A case-insensitive word denylist: a value is denied when any of its words (runs of letters
/// and digits) is on the list.
#[derive(Debug, Clone, Default)]
pub struct Denylist {
    words: std::collections::HashSet<String>,
}

impl Denylist {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(words: I) -> Denylist {
        Denylist {
            words: words
                .into_iter()
                .map(|w| w.as_ref().trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect(),
        }
    }

    pub fn denies(&self, value: &str) -> bool {
        !self.words.is_empty()
            && value
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| !w.is_empty() && self.words.contains(&w.to_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(field: &str, default: Option<&str>) -> Segment {
        Segment::Tag {
            field: field.into(),
            default: default.map(Into::into),
        }
    }

    #[test]
    fn unfilled_platform_tags_are_recognised() {
        for tag in [
            "*|FNAME|*",
            " {{ contact.firstname }}",
            "{% if x %}",
            "%%First_Name%%",
            "%FIRSTNAME%",
            "[firstname,fallback=]",
            "[company,fallback=your team]",
            "[email]",
        ] {
            assert!(is_unfilled_tag(tag), "{tag}");
        }
        for value in [
            "Ana",
            "*|",
            "{{}}",
            "100%",
            "%50%",
            "%Ana%",
            "[]",
            "[a, b]",
            "[Beta]",
            "[EN]",
            "Ana {{x}} Bo",
        ] {
            assert!(!is_unfilled_tag(value), "{value}");
        }
    }

    #[test]
    fn merge_tags_parse() {
        assert_eq!(
            parse("Hi {{ name | default: \"there\" }}!").unwrap(),
            vec![
                Segment::Literal("Hi ".into()),
                tag("name", Some("there")),
                Segment::Literal("!".into())
            ]
        );
        assert_eq!(
            parse("{{company}}{{ date }}").unwrap(),
            vec![tag("company", None), tag("date", None)]
        );
        assert_eq!(
            parse(r#"{{ a|default:"say \"hi\" \\ ok" }}"#).unwrap(),
            vec![tag("a", Some(r#"say "hi" \ ok"#))]
        );
        assert_eq!(parse("no tags, ünïcode").unwrap().len(), 1);
        assert_eq!(parse("").unwrap(), vec![]);
        for (bad, at) in [
            ("{{ }}", 3),
            ("Hi {{ name", 10),
            ("{{ name | upper }}", 10),
            ("{{ name | default there }}", 18),
            ("{{ name | default: there }}", 19),
            ("{{ name | default: \"x }}", 19),
        ] {
            assert_eq!(parse(bad).unwrap_err().at, at, "{bad}");
        }
    }

    #[test]
    fn any_bad_value_falls_back_to_the_default() {
        let spec = FieldSpec {
            kind: FieldKind::Text,
            max_length: 10,
            pattern: Some("[A-Za-z ]+".into()),
            open: true,
            default: "there".into(),
        };
        let f = Field::new(spec).unwrap();
        let deny = Denylist::new(["spam"]);
        let r =
            |v: Option<&str>| f.resolve(v, None, |v| deny.denies(v).then_some(Fallback::Denied));
        assert_eq!(r(Some("  Ada ")), ("Ada".into(), None));
        assert_eq!(r(None), ("there".into(), Some(Fallback::Missing)));
        assert_eq!(r(Some("   ")), ("there".into(), Some(Fallback::Empty)));
        assert_eq!(
            r(Some("Bartholomew Jr")),
            ("there".into(), Some(Fallback::TooLong))
        );
        assert_eq!(r(Some("Ada1")), ("there".into(), Some(Fallback::Invalid)));
        assert_eq!(
            r(Some("SPAM now")),
            ("there".into(), Some(Fallback::Denied))
        );
        // A tag's own default wins over the field's.
        assert_eq!(
            f.resolve(None, Some("friend"), |_| None),
            ("friend".into(), Some(Fallback::Missing))
        );
    }

    #[test]
    fn kinds_check_their_values() {
        let field = |kind| {
            Field::new(FieldSpec {
                kind,
                max_length: 200,
                pattern: None,
                open: false,
                default: "-".into(),
            })
            .unwrap()
        };
        let ok = |f: &Field, v: &str| f.resolve(Some(v), None, |_| None).1.is_none();
        let date = field(FieldKind::Date);
        assert!(ok(&date, "2026-02-28") && ok(&date, "2024-02-29"));
        assert!(!ok(&date, "2026-02-29") && !ok(&date, "2026-13-01") && !ok(&date, "26-1-1"));
        assert!(ok(&date, "2000-02-29") && !ok(&date, "1900-02-29") && ok(&date, "0001-12-31"));
        for bad in [
            "+2026-02-28",
            "-2026-02-28",
            "2026-2-28",
            "2026-02-8",
            "20260-02-28",
        ] {
            assert!(!ok(&date, bad), "{bad}");
        }
        assert!(!ok(&date, "2026-02-28T00:00") && !ok(&date, "2026/02/28"));
        let number = field(FieldKind::Number);
        assert!(ok(&number, "42") && ok(&number, "-3.5"));
        assert!(!ok(&number, "NaN") && !ok(&number, "4 2"));
        let url = field(FieldKind::Url);
        assert!(ok(&url, "https://example.org/rep.jpg") && ok(&url, "reps/ada.jpg"));
        assert!(!ok(&url, "javascript:alert(1)") && !ok(&url, "a b"));
        let text = field(FieldKind::Text);
        assert!(ok(&text, "مرحبا שלום Zoë") && !ok(&text, "line\nbreak"));
        assert!(
            Field::new(FieldSpec {
                pattern: Some("(".into()),
                ..date.spec.clone()
            })
            .is_err()
        );
    }

    #[test]
    fn denylist_matches_whole_words_in_any_case() {
        let d = Denylist::new(["Scam", " "]);
        assert!(d.denies("what a SCAM!") && d.denies("scam"));
        assert!(!d.denies("scampi") && !d.denies(""));
        assert!(!Denylist::default().denies("anything"));
    }
}
