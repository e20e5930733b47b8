//! Merge tags and fields: `{{ field }}`, `{{ field | default: "there" }}` and filters
//! (`{{ when | date: "%A %-d %B", "fr" }}`) in a text layer, and the rule that a field which is
//! missing, empty, too long, invalid or denied falls back to its default — never to an error.
//! Pure functions over plain data.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::macros::format_description;

use super::format::{self, Locale};
use super::model::Zone;

/// A piece of a text layer's content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Segment {
    /// Printed as written.
    Literal(String),
    /// Replaced by the field's value, or by `default` (else the field's own default), then
    /// passed through `filters` in order.
    Tag {
        field: String,
        default: Option<String>,
        filters: Vec<Filter>,
    },
}

/// A merge-tag filter, applied to what the tag prints. One that cannot read its input (a
/// date filter on a word) leaves the text as it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Filter {
    Upper,
    Lower,
    /// The first letter of each word upper-cased, the rest as typed.
    Title,
    /// At most this many characters, the last one an ellipsis when cut.
    Truncate(usize),
    /// A date or date-time in a strftime-like pattern, with day and month names of a locale,
    /// shown in a time zone (both the template's by default).
    Date {
        pattern: String,
        locale: Option<Locale>,
        zone: Option<Zone>,
    },
    /// A number grouped by the locale, optionally rounded.
    Number {
        decimals: Option<u8>,
        locale: Option<Locale>,
    },
    /// An amount in an ISO 4217 currency, written the locale's way.
    Currency {
        code: String,
        locale: Option<Locale>,
    },
    /// The time left until the date, e.g. `2 days 03:14:05`: the image animates.
    Countdown {
        pattern: String,
    },
}

/// A filter as written in a merge tag (`date: "%A", "fr"`), so it parses back to itself.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let locale = |l: &Option<Locale>| l.map_or(String::new(), |l| l.to_string());
        match self {
            Filter::Upper => f.write_str("upper"),
            Filter::Lower => f.write_str("lower"),
            Filter::Title => f.write_str("title"),
            Filter::Truncate(n) => write!(f, "truncate: {n}"),
            Filter::Date {
                pattern,
                locale: l,
                zone,
            } => {
                write!(f, "date: {}", quoted(pattern))?;
                match (l, zone) {
                    (_, Some(z)) => write!(f, ", {}, {}", quoted(&locale(l)), quoted(&z.name)),
                    (Some(_), None) => write!(f, ", {}", quoted(&locale(l))),
                    (None, None) => Ok(()),
                }
            }
            Filter::Number {
                decimals,
                locale: l,
            } => {
                f.write_str("number")?;
                match (decimals, l) {
                    (Some(d), Some(_)) => write!(f, ": {d}, {}", quoted(&locale(l))),
                    (Some(d), None) => write!(f, ": {d}"),
                    (None, Some(_)) => write!(f, ": {}", quoted(&locale(l))),
                    (None, None) => Ok(()),
                }
            }
            Filter::Currency { code, locale: l } => {
                write!(f, "currency: {}", quoted(code))?;
                if l.is_some() {
                    write!(f, ", {}", quoted(&locale(l)))?;
                }
                Ok(())
            }
            Filter::Countdown { pattern } => write!(f, "countdown: {}", quoted(pattern)),
        }
    }
}

/// What filters need besides the text: the template's locale and time zone, and the time of
/// the request (for countdowns).
pub struct FilterContext<'a> {
    pub locale: Locale,
    pub tz: &'a jiff::tz::TimeZone,
    pub now: jiff::Timestamp,
}

impl Filter {
    /// Applies the filter to `text`.
    pub fn apply(&self, text: &str, cx: &FilterContext) -> String {
        let number = || text.trim().parse::<f64>().ok().filter(|v| v.is_finite());
        let moment = || format::parse_moment(text.trim(), cx.tz);
        let out = match self {
            Filter::Upper => Some(text.to_uppercase()),
            Filter::Lower => Some(text.to_lowercase()),
            Filter::Title => Some(format::title_case(text)),
            Filter::Truncate(n) => Some(format::truncate(text, *n)),
            Filter::Date {
                pattern,
                locale,
                zone,
            } => moment().map(|when| {
                let when = match zone {
                    Some(z) => when.with_time_zone(z.tz.clone()),
                    None => when,
                };
                format::format_date(&when, pattern, locale.unwrap_or(cx.locale))
            }),
            Filter::Number { decimals, locale } => number()
                .and_then(|v| format::format_number(v, *decimals, locale.unwrap_or(cx.locale))),
            Filter::Currency { code, locale } => {
                number().and_then(|v| format::format_currency(v, code, locale.unwrap_or(cx.locale)))
            }
            Filter::Countdown { pattern } => moment().map(|until| {
                let left = until.timestamp().as_second() - cx.now.as_second();
                format::format_countdown(left.max(0) as u64, pattern, cx.locale)
            }),
        };
        out.unwrap_or_else(|| text.to_string())
    }
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
#[derive(Debug, Clone, PartialEq)]
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

    /// Whether a tag counts down to a date.
    pub fn has_countdown(&self) -> bool {
        self.segments.iter().any(|s| {
            matches!(s, Segment::Tag { filters, .. }
                if filters.iter().any(|f| matches!(f, Filter::Countdown { .. })))
        })
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
    let mut filters = Vec::new();
    while s[i..].starts_with('|') {
        i = skip_spaces(s, i + 1);
        let name_at = i;
        let name_len = s[i..]
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(s.len() - i);
        let name = &s[i..i + name_len];
        i = skip_spaces(s, i + name_len);
        let mut args = Vec::new();
        if s[i..].starts_with(':') {
            loop {
                i = skip_spaces(s, i + 1);
                let (arg, used) = parse_arg(&s[i..])
                    .ok_or_else(|| err("expected a quoted text or a number", i))?;
                args.push(arg);
                i = skip_spaces(s, i + used);
                if !s[i..].starts_with(',') {
                    break;
                }
            }
        }
        match build_filter(name, args) {
            Ok(Built::Default(d)) if default.is_none() => default = Some(d),
            Ok(Built::Default(_)) => return Err(err("`default` is given twice", name_at)),
            Ok(Built::Filter(f)) => filters.push(f),
            Err(what) => return Err(err(what, name_at)),
        }
    }
    if !s[i..].starts_with("}}") {
        return Err(err("expected `}}`", i));
    }
    Ok((
        Segment::Tag {
            field,
            default,
            filters,
        },
        i + 2,
    ))
}

/// A filter argument: a quoted text or a whole number.
#[derive(Debug)]
enum Arg {
    Text(String),
    Whole(u64),
}

fn parse_arg(s: &str) -> Option<(Arg, usize)> {
    if s.starts_with('"') {
        return parse_string(s).map(|(v, n)| (Arg::Text(v), n));
    }
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = s[..digits].parse().ok()?;
    Some((Arg::Whole(n), digits))
}

enum Built {
    Default(String),
    Filter(Filter),
}

const FILTERS: &str =
    "filters are default, upper, lower, title, truncate, date, number, currency and countdown";

/// A filter from its name and arguments, checked once (patterns, locales, zones, currencies)
/// so a render never meets a bad one.
fn build_filter(name: &str, args: Vec<Arg>) -> Result<Built, &'static str> {
    let mut args = args.into_iter();
    fn text(
        args: &mut std::vec::IntoIter<Arg>,
        required: bool,
    ) -> Result<Option<String>, &'static str> {
        match args.next() {
            Some(Arg::Text(t)) => Ok(Some(t)),
            Some(Arg::Whole(_)) => Err("expected a quoted text"),
            None if required => Err("this filter needs an argument"),
            None => Ok(None),
        }
    }
    // An empty locale is the template's (written so a time zone can follow).
    let locale = |t: Option<String>| -> Result<Option<Locale>, &'static str> {
        t.filter(|l| !l.is_empty())
            .map(|l| {
                l.parse()
                    .map_err(|_| "unknown locale; Tessera has en, fr, de, es, pt, it and nl")
            })
            .transpose()
    };
    let built = match name {
        "default" => Built::Default(text(&mut args, true)?.unwrap_or_default()),
        "upper" => Built::Filter(Filter::Upper),
        "lower" => Built::Filter(Filter::Lower),
        "title" => Built::Filter(Filter::Title),
        "truncate" => match args.next() {
            Some(Arg::Whole(n @ 1..=1000)) => Built::Filter(Filter::Truncate(n as usize)),
            _ => return Err("truncate takes a number of characters, 1 to 1000"),
        },
        "date" => {
            let pattern = text(&mut args, true)?.unwrap_or_default();
            format::check_date_pattern(&pattern)
                .map_err(|_| "not a date pattern (%A %-d %B %Y %H:%M …)")?;
            let locale = locale(text(&mut args, false)?)?;
            let zone = match text(&mut args, false)? {
                Some(name) => {
                    let tz = format::time_zone(&name).map_err(|_| "unknown time zone")?;
                    Some(Zone { name, tz })
                }
                None => None,
            };
            Built::Filter(Filter::Date {
                pattern,
                locale,
                zone,
            })
        }
        "number" => {
            let decimals = match args.next() {
                Some(Arg::Whole(n @ 0..=6)) => Some(n as u8),
                None => None,
                Some(Arg::Text(l)) => {
                    return Ok(Built::Filter(Filter::Number {
                        decimals: None,
                        locale: locale(Some(l))?,
                    }));
                }
                Some(Arg::Whole(_)) => return Err("number takes 0 to 6 decimals"),
            };
            Built::Filter(Filter::Number {
                decimals,
                locale: locale(text(&mut args, false)?)?,
            })
        }
        "currency" => {
            let code = text(&mut args, true)?.unwrap_or_default();
            format::check_currency(&code)
                .map_err(|_| "not a currency this server knows (EUR, USD, GBP …)")?;
            Built::Filter(Filter::Currency {
                code,
                locale: locale(text(&mut args, false)?)?,
            })
        }
        "countdown" => {
            let pattern =
                text(&mut args, false)?.unwrap_or_else(|| format::COUNTDOWN_PATTERN.to_string());
            format::check_countdown_pattern(&pattern)
                .map_err(|_| "not a countdown pattern (%D %H:%M:%S, %d, %h)")?;
            Built::Filter(Filter::Countdown { pattern })
        }
        _ => return Err(FILTERS),
    };
    if args.next().is_some() {
        return Err("too many arguments for this filter");
    }
    Ok(built)
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
    /// A moment: `YYYY-MM-DDTHH:MM[:SS]` in the template's time zone, or RFC 3339 with an
    /// offset; a date alone is its midnight.
    Datetime,
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
    /// The recipient key names no row of the template's data set.
    NoRecord,
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
            Fallback::NoRecord => "no-record",
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
            FieldKind::Datetime => format::parse_moment(v, &jiff::tz::TimeZone::UTC).is_some(),
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
/// HubSpot/Klaviyo/Braze/Iterable/Liquid `{{ … }}` or `{% … %}`, Salesforce Marketing Cloud
/// `%%…%%`, ActiveCampaign `%FIRSTNAME%`, Campaign Monitor `[firstname,fallback=]`, MailerLite
/// `{$name}`, Mailjet `[[data:name:""]]`, bracketed `[FNAME]`, `#{first_name}` — which must
/// never be printed on an image. A tag encoded once more than the URL needed arrives still
/// percent-encoded (`%2A%7CFNAME%7C%2A`), so encoded values are looked at decoded too.
pub fn is_unfilled_tag(value: &str) -> bool {
    let mut v = value.trim().to_string();
    for _ in 0..3 {
        if looks_like_tag(&v) {
            return true;
        }
        let decoded = percent_encoding::percent_decode_str(&v)
            .decode_utf8_lossy()
            .trim()
            .to_string();
        if decoded == v {
            return false;
        }
        v = decoded;
    }
    looks_like_tag(&v)
}

fn looks_like_tag(v: &str) -> bool {
    let wrapped = |open: &str, close: &str| {
        v.len() > open.len() + close.len() && v.starts_with(open) && v.ends_with(close)
    };
    let inner = |open: &str, close: &str| &v[open.len()..v.len() - close.len()];
    let name = |s: &str, upper_only: bool| {
        !s.is_empty()
            && s.bytes().all(|b| {
                b.is_ascii_uppercase()
                    || b.is_ascii_digit()
                    || b == b'_'
                    || (!upper_only && (b.is_ascii_lowercase() || b == b'-' || b == b'.'))
            })
    };
    // ActiveCampaign's tags are upper-case names; "%50%" or "100%" are real values.
    let active_campaign = wrapped("%", "%")
        && name(inner("%", "%"), true)
        && inner("%", "%").bytes().any(|b| b.is_ascii_uppercase());
    // Campaign Monitor: `[name,fallback=…]`, or one of its built-in names alone. Other
    // bracketed names count when upper-case and at least three long (`[FNAME]`): a plain
    // `[Beta]` or `[EN]` may be a real value.
    let bracketed = wrapped("[", "]") && {
        let tag = inner("[", "]");
        match tag.split_once(",fallback=") {
            Some((n, _)) => name(n, false),
            None => {
                matches!(tag, "email" | "firstname" | "lastname" | "fullname")
                    || (tag.len() >= 3
                        && name(tag, true)
                        && tag.starts_with(|c: char| c.is_ascii_uppercase()))
            }
        }
    };
    wrapped("*|", "|*")
        || wrapped("{{", "}}")
        || wrapped("{%", "%}")
        || wrapped("%%", "%%")
        || wrapped("[[", "]]")
        || (wrapped("{$", "}") && name(inner("{$", "}"), false))
        || (wrapped("#{", "}") && name(inner("#{", "}"), false))
        || active_campaign
        || bracketed
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
            filters: vec![],
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
            "{$name}",
            "[FNAME]",
            "#{first_name}",
            "[[data:firstname:\"\"]]",
            // Mailchimp's tag encoded twice: the server decodes once.
            "%2A%7CFNAME%7C%2A",
            "%257B%257B%2520first_name%2520%257D%257D",
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
            "C++",
            "Barnes & Noble",
            "50%25",
            "#{}",
            "{$}",
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
            ("{{ name | shout }}", 10),
            ("{{ name | truncate: 0 }}", 10),
            ("{{ name | date: \"%Q\" }}", 10),
            ("{{ name | date: \"%A\", \"xx\" }}", 10),
            ("{{ name | currency: \"XYZ\" }}", 10),
            ("{{ name | upper: 2 }}", 10),
            ("{{ name | default: \"a\" | default: \"b\" }}", 25),
            ("{{ name | default there }}", 10),
            ("{{ name | default: there }}", 19),
            ("{{ name | default: \"x }}", 19),
        ] {
            assert_eq!(parse(bad).unwrap_err().at, at, "{bad}");
        }
    }

    #[test]
    fn filters_parse_and_apply_in_order() {
        let segments = parse(
            r#"{{ when | date: "%A %-d %B, %H:%M", "fr", "Europe/Paris" | upper | default: "bientôt" }}"#,
        )
        .unwrap();
        let Segment::Tag {
            default, filters, ..
        } = &segments[0]
        else {
            panic!("a tag");
        };
        assert_eq!(default.as_deref(), Some("bientôt"));
        assert_eq!(filters.len(), 2);
        let tz = jiff::tz::TimeZone::UTC;
        let cx = FilterContext {
            locale: Locale::En,
            tz: &tz,
            now: "2026-12-24T17:00:00Z".parse().unwrap(),
        };
        let run = |text: &str| {
            filters
                .iter()
                .fold(text.to_string(), |t, f| f.apply(&t, &cx))
        };
        assert_eq!(run("2026-12-24T17:30"), "JEUDI 24 DÉCEMBRE, 18:30");
        // A filter that cannot read its input leaves it.
        assert_eq!(run("bientôt"), "BIENTÔT");
        let one = |tag: &str, text: &str| {
            let Segment::Tag { filters, .. } = &parse(tag).unwrap()[0] else {
                panic!("a tag");
            };
            filters
                .iter()
                .fold(text.to_string(), |t, f| f.apply(&t, &cx))
        };
        assert_eq!(one(r#"{{ n | number: 2, "de" }}"#, "1234.5"), "1.234,50");
        assert_eq!(one(r#"{{ n | number: "en" }}"#, "1234567"), "1,234,567");
        assert_eq!(
            one(r#"{{ n | currency: "EUR", "fr" }}"#, "1234.5"),
            "1\u{202f}234,50\u{a0}€"
        );
        assert_eq!(one(r#"{{ n | currency: "USD" }}"#, "-3"), "-$3.00");
        assert_eq!(one("{{ s | truncate: 5 }}", "Bartholomew"), "Bart…");
        assert_eq!(one("{{ s | title }}", "ada mcDonald"), "Ada McDonald");
        assert_eq!(one("{{ s | lower }}", "ÉTÉ"), "été");
        assert_eq!(
            one("{{ d | countdown }}", "2026-12-26T20:14:05Z"),
            "2 days 03:14:05"
        );
        assert_eq!(
            one(r#"{{ d | countdown: "%h h" }}"#, "2026-12-24T16:00:00Z"),
            "0 h"
        );
        let countdown: Tagged = "Starts in {{ d | countdown }}".parse().unwrap();
        assert!(countdown.has_countdown());
        assert!(
            !"{{ d | date: \"%Y\" }}"
                .parse::<Tagged>()
                .unwrap()
                .has_countdown()
        );
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
