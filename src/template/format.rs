//! Locale-aware formatting for merge-tag filters: dates, numbers, currencies,
//! countdowns, text direction and a few text helpers.
//!
//! Everything here is a pure function: no I/O, no clock, no environment.
//! Time zones come from the IANA database bundled into the binary, so a render
//! gives the same output on every host whatever its `/usr/share/zoneinfo`.
//! Names, separators and currency placement follow CLDR for the seven
//! languages Tessera offers; `pt` follows Brazilian (pt-BR) conventions.
//!
//! Patterns are checked once when a template is saved (`check_*`); the
//! formatters then assume a checked pattern but never panic on a bad one.

use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::sync::LazyLock;

use jiff::ZonedDateTime;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{Offset, TimeZone, TimeZoneDatabase};
use unicode_bidi::{BidiClass, bidi_class};

/// A language Tessera formats for. Region subtags are accepted when parsing
/// but ignored: `pt-PT` still gets pt-BR conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    #[default]
    En,
    Fr,
    De,
    Es,
    Pt,
    It,
    Nl,
}

impl Locale {
    pub const ALL: [Locale; 7] = [
        Locale::En,
        Locale::Fr,
        Locale::De,
        Locale::Es,
        Locale::Pt,
        Locale::It,
        Locale::Nl,
    ];

    fn code(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Fr => "fr",
            Locale::De => "de",
            Locale::Es => "es",
            Locale::Pt => "pt",
            Locale::It => "it",
            Locale::Nl => "nl",
        }
    }
}

impl FromStr for Locale {
    type Err = FormatError;

    /// "fr", "FR", "fr-FR", "pt_BR": the language part decides.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split(['-', '_']);
        let language = parts.next().unwrap_or_default();
        // Only well-formed subtags after the language, so "fr-" or "fr--x"
        // are not silently taken for French.
        let subtags_ok = parts
            .all(|p| !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !subtags_ok {
            return Err(FormatError::UnknownLocale);
        }
        Locale::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(language))
            .ok_or(FormatError::UnknownLocale)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a filter argument was refused. Messages are static on purpose: the
/// offending values may be personal data and must not reach logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown locale; Tessera has en, fr, de, es, pt, it, nl")]
    UnknownLocale,
    #[error("unknown time zone; use an IANA name such as Europe/Paris, or UTC")]
    UnknownTimeZone,
    #[error("bad pattern: {0}")]
    BadPattern(&'static str),
    #[error(
        "unknown currency; Tessera has EUR, USD, GBP, CHF, JPY, SEK, NOK, DKK, PLN, CZK, \
         HUF, RON, ISK, TRY, BRL, CAD, AUD, NZD, MXN, CNY, HKD, SGD, KRW, INR, ZAR"
    )]
    UnknownCurrency,
}

const DATE_DIRECTIVE: &str = "unknown date directive; use %A %a %B %b %d %e %m %Y %y %H %I %M %S \
     %p %Z %z %j %%, with %- before a number to drop its padding";
const COUNTDOWN_DIRECTIVE: &str = "unknown countdown directive; use %d %D %H %h %M %S %%";
const LONE_PERCENT: &str = "the pattern ends in %; write %% for a percent sign";

// ---------------------------------------------------------------------------
// Time zones and moments

// Looked up explicitly rather than through `jiff::tz::db()`, which prefers
// the host's zoneinfo whenever another crate turns that jiff feature on.
static TZDB: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// An IANA time zone ("Europe/Paris", "UTC"), case-insensitively, from the
/// bundled database.
pub fn time_zone(name: &str) -> Result<TimeZone, FormatError> {
    let tz = TZDB.get(name).map_err(|_| FormatError::UnknownTimeZone)?;
    // "Etc/Unknown" resolves to a sentinel that renders as UTC; a template
    // naming it is a mistake, not a wish for UTC.
    if tz.is_unknown() {
        return Err(FormatError::UnknownTimeZone);
    }
    Ok(tz)
}

/// A moment from a field value, read in `tz` when it carries no offset:
/// "2026-12-24" (midnight in tz), "2026-12-24T18:30", "2026-12-24T18:30:05",
/// "2026-12-24 18:30", RFC 3339 with Z or offset
/// ("2026-12-24T18:30:00+01:00"). Returns None for anything else.
///
/// Surrounding whitespace is ignored and seconds may carry a fraction. A
/// value with an offset names one instant, which is returned as seen in
/// `tz`, so a template renders every moment in its own zone. A local time
/// that falls in a DST gap is moved forward by the gap's length, and one that
/// occurs twice takes the earlier instant (RFC 9557 "compatible").
pub fn parse_moment(value: &str, tz: &TimeZone) -> Option<ZonedDateTime> {
    let mut cur = Cursor {
        bytes: value.trim().as_bytes(),
        pos: 0,
    };
    let year = cur.digits(4)?;
    cur.expect(b'-')?;
    let month = cur.digits(2)?;
    cur.expect(b'-')?;
    let day = cur.digits(2)?;
    // All fit: at most 4 and 2 digits.
    let date = Date::new(year as i16, month as i8, day as i8).ok()?;
    if cur.at_end() {
        return date.to_zoned_datetime(tz.clone()).ok();
    }

    if !matches!(cur.next()?, b'T' | b't' | b' ') {
        return None;
    }
    let hour = cur.digits(2)?;
    cur.expect(b':')?;
    let minute = cur.digits(2)?;
    let (mut second, mut nanos) = (0, 0);
    if cur.eat(b':') {
        second = cur.digits(2)?;
        if cur.eat(b'.') || cur.eat(b',') {
            nanos = cur.fraction()?;
        }
    }
    // RFC 3339 allows a leap second; jiff has none, so it becomes :59.
    if second == 60 {
        second = 59;
    }
    let time = Time::new(hour as i8, minute as i8, second as i8, nanos).ok()?;
    let datetime = DateTime::from_parts(date, time);
    if cur.at_end() {
        return datetime.to_zoned_datetime(tz.clone()).ok();
    }

    let offset_seconds = match cur.next()? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let hours = cur.digits(2)?;
            cur.expect(b':')?;
            let minutes = cur.digits(2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = (hours * 3600 + minutes * 60) as i32;
            if sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    if !cur.at_end() {
        return None;
    }
    let offset = Offset::from_seconds(offset_seconds).ok()?;
    let instant = offset.to_timestamp(datetime).ok()?;
    Some(instant.to_zoned_datetime(tz.clone()))
}

/// A byte reader for the fixed shapes `parse_moment` accepts; stricter than
/// jiff's own parser, which also takes forms a field should not contain.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> bool {
        let hit = self.bytes.get(self.pos) == Some(&want);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        self.eat(want).then_some(())
    }

    /// Exactly `n` ASCII digits (n ≤ 4, so no overflow).
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut value = 0;
        for _ in 0..n {
            let b = self.next()?;
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(b - b'0');
        }
        Some(value)
    }

    /// 1 to 9 fractional digits, as nanoseconds.
    fn fraction(&mut self) -> Option<i32> {
        let start = self.pos;
        let mut nanos = 0i32;
        while let Some(&b) = self.bytes.get(self.pos) {
            if !b.is_ascii_digit() || self.pos - start == 9 {
                break;
            }
            nanos = nanos * 10 + i32::from(b - b'0');
            self.pos += 1;
        }
        let len = self.pos - start;
        if len == 0 || self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        Some(nanos * 10i32.pow((9 - len) as u32))
    }
}

// ---------------------------------------------------------------------------
// Patterns

/// One step of a `%` pattern.
enum Piece<'a> {
    Literal(&'a str),
    /// `%x` or `%-x`; `raw` is the text as written, printed back when the
    /// directive is unknown.
    Directive {
        no_pad: bool,
        spec: char,
        raw: &'a str,
    },
    /// A `%` or `%-` at the very end.
    Dangling(&'a str),
}

struct Pieces<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let Some(after) = self.rest.strip_prefix('%') else {
            let end = self.rest.find('%').unwrap_or(self.rest.len());
            let (literal, rest) = self.rest.split_at(end);
            self.rest = rest;
            return Some(Piece::Literal(literal));
        };
        let mut chars = after.chars();
        let (no_pad, spec) = match chars.next() {
            Some('-') => (true, chars.next()),
            other => (false, other),
        };
        let Some(spec) = spec else {
            let raw = self.rest;
            self.rest = "";
            return Some(Piece::Dangling(raw));
        };
        let len = 1 + usize::from(no_pad) + spec.len_utf8();
        let (raw, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(Piece::Directive { no_pad, spec, raw })
    }
}

fn pieces(pattern: &str) -> Pieces<'_> {
    Pieces { rest: pattern }
}

fn check_pattern(
    pattern: &str,
    known: fn(bool, char) -> bool,
    unknown: &'static str,
) -> Result<(), FormatError> {
    for piece in pieces(pattern) {
        match piece {
            Piece::Literal(_) => {}
            Piece::Directive { no_pad, spec, .. } if known(no_pad, spec) => {}
            Piece::Directive { .. } => return Err(FormatError::BadPattern(unknown)),
            Piece::Dangling(_) => return Err(FormatError::BadPattern(LONE_PERCENT)),
        }
    }
    Ok(())
}

fn push_number(out: &mut String, value: i64, width: usize, no_pad: bool) {
    // Writing to a String cannot fail.
    let _ = if no_pad {
        write!(out, "{value}")
    } else {
        write!(out, "{value:0width$}")
    };
}

// ---------------------------------------------------------------------------
// Dates

struct Names {
    /// Sunday first, as `Weekday::to_sunday_zero_offset` counts.
    days: [&'static str; 7],
    days_abbr: [&'static str; 7],
    months: [&'static str; 12],
    months_abbr: [&'static str; 12],
}

// CLDR "format" context, wide and abbreviated.
static EN: Names = Names {
    days: [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ],
    days_abbr: ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    months_abbr: [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ],
};

static FR: Names = Names {
    days: [
        "dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi",
    ],
    days_abbr: ["dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."],
    months: [
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
    ],
    months_abbr: [
        "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
        "déc.",
    ],
};

static DE: Names = Names {
    days: [
        "Sonntag",
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
    ],
    days_abbr: ["So.", "Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa."],
    months: [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    months_abbr: [
        "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.",
        "Dez.",
    ],
};

static ES: Names = Names {
    days: [
        "domingo",
        "lunes",
        "martes",
        "miércoles",
        "jueves",
        "viernes",
        "sábado",
    ],
    days_abbr: ["dom", "lun", "mar", "mié", "jue", "vie", "sáb"],
    months: [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    months_abbr: [
        "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
    ],
};

static PT: Names = Names {
    days: [
        "domingo",
        "segunda-feira",
        "terça-feira",
        "quarta-feira",
        "quinta-feira",
        "sexta-feira",
        "sábado",
    ],
    days_abbr: ["dom.", "seg.", "ter.", "qua.", "qui.", "sex.", "sáb."],
    months: [
        "janeiro",
        "fevereiro",
        "março",
        "abril",
        "maio",
        "junho",
        "julho",
        "agosto",
        "setembro",
        "outubro",
        "novembro",
        "dezembro",
    ],
    months_abbr: [
        "jan.", "fev.", "mar.", "abr.", "mai.", "jun.", "jul.", "ago.", "set.", "out.", "nov.",
        "dez.",
    ],
};

static IT: Names = Names {
    days: [
        "domenica",
        "lunedì",
        "martedì",
        "mercoledì",
        "giovedì",
        "venerdì",
        "sabato",
    ],
    days_abbr: ["dom", "lun", "mar", "mer", "gio", "ven", "sab"],
    months: [
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ],
    months_abbr: [
        "gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic",
    ],
};

static NL: Names = Names {
    days: [
        "zondag",
        "maandag",
        "dinsdag",
        "woensdag",
        "donderdag",
        "vrijdag",
        "zaterdag",
    ],
    days_abbr: ["zo", "ma", "di", "wo", "do", "vr", "za"],
    months: [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
    months_abbr: [
        "jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec",
    ],
};

fn names(locale: Locale) -> &'static Names {
    match locale {
        Locale::En => &EN,
        Locale::Fr => &FR,
        Locale::De => &DE,
        Locale::Es => &ES,
        Locale::Pt => &PT,
        Locale::It => &IT,
        Locale::Nl => &NL,
    }
}

fn is_date_directive(no_pad: bool, spec: char) -> bool {
    match spec {
        'A' | 'a' | 'B' | 'b' | 'e' | 'Y' | 'p' | 'Z' | 'z' | '%' => !no_pad,
        'd' | 'm' | 'y' | 'H' | 'I' | 'M' | 'S' | 'j' => true,
        _ => false,
    }
}

/// Checks a date pattern once, when a template is saved.
pub fn check_date_pattern(pattern: &str) -> Result<(), FormatError> {
    check_pattern(pattern, is_date_directive, DATE_DIRECTIVE)
}

/// strftime-like, with the locale's day and month names:
/// %A full weekday, %a abbreviated weekday, %B full month, %b abbreviated
/// month, %d day 01-31, %-d day 1-31, %e day space-padded, %m month 01-12,
/// %-m, %Y year, %y 2-digit year, %H 00-23, %-H, %I 01-12, %-I, %M minutes,
/// %S seconds, %p AM/PM (en only; the other locales write 24-hour times, so
/// it is empty there), %Z zone abbreviation, %z +0100, %j day of year,
/// %% literal. `%-` also drops the padding of %y %M %S %j.
///
/// Assumes a checked pattern; an unknown directive is printed as written.
pub fn format_date(when: &ZonedDateTime, pattern: &str, locale: Locale) -> String {
    let names = names(locale);
    let mut out = String::with_capacity(pattern.len() + 16);
    for piece in pieces(pattern) {
        let (no_pad, spec, raw) = match piece {
            Piece::Literal(text) | Piece::Dangling(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Directive { no_pad, spec, raw } => (no_pad, spec, raw),
        };
        if !is_date_directive(no_pad, spec) {
            out.push_str(raw);
            continue;
        }
        let weekday = usize::from(when.weekday().to_sunday_zero_offset().unsigned_abs());
        // jiff months are 1..=12.
        let month = usize::from(when.month().unsigned_abs()).clamp(1, 12) - 1;
        let hour = i64::from(when.hour());
        match spec {
            'A' => out.push_str(names.days[weekday % 7]),
            'a' => out.push_str(names.days_abbr[weekday % 7]),
            'B' => out.push_str(names.months[month]),
            'b' => out.push_str(names.months_abbr[month]),
            'd' => push_number(&mut out, when.day().into(), 2, no_pad),
            'e' => {
                let _ = write!(out, "{:>2}", when.day());
            }
            'm' => push_number(&mut out, when.month().into(), 2, no_pad),
            'Y' => {
                let year = i64::from(when.year());
                push_number(&mut out, year, 4, year < 0);
            }
            'y' => {
                let year = i64::from(when.year()).rem_euclid(100);
                push_number(&mut out, year, 2, no_pad);
            }
            'H' => push_number(&mut out, hour, 2, no_pad),
            'I' => {
                let twelve = if hour % 12 == 0 { 12 } else { hour % 12 };
                push_number(&mut out, twelve, 2, no_pad);
            }
            'M' => push_number(&mut out, when.minute().into(), 2, no_pad),
            'S' => push_number(&mut out, when.second().into(), 2, no_pad),
            'j' => push_number(&mut out, when.day_of_year().into(), 3, no_pad),
            'p' => {
                if locale == Locale::En {
                    out.push_str(if hour < 12 { "AM" } else { "PM" });
                }
            }
            'Z' => {
                let info = when.time_zone().to_offset_info(when.timestamp());
                out.push_str(info.abbreviation());
            }
            'z' => push_offset(&mut out, when.offset()),
            _ => out.push('%'),
        }
    }
    out
}

/// "+0100", with seconds appended only for the odd historical offsets.
fn push_offset(out: &mut String, offset: Offset) {
    let total = offset.seconds();
    let sign = if total < 0 { '-' } else { '+' };
    let total = total.unsigned_abs();
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    let _ = write!(out, "{sign}{hours:02}{minutes:02}");
    if seconds != 0 {
        let _ = write!(out, "{seconds:02}");
    }
}

// ---------------------------------------------------------------------------
// Numbers and currencies

struct NumberSymbols {
    group: &'static str,
    decimal: char,
    /// CLDR minimumGroupingDigits: es writes "1234" but "12.345".
    min_grouping: usize,
}

fn number_symbols(locale: Locale) -> NumberSymbols {
    match locale {
        Locale::En => NumberSymbols {
            group: ",",
            decimal: '.',
            min_grouping: 1,
        },
        Locale::Fr => NumberSymbols {
            group: "\u{202F}",
            decimal: ',',
            min_grouping: 1,
        },
        Locale::Es => NumberSymbols {
            group: ".",
            decimal: ',',
            min_grouping: 2,
        },
        Locale::De | Locale::Pt | Locale::It | Locale::Nl => NumberSymbols {
            group: ".",
            decimal: ',',
            min_grouping: 1,
        },
    }
}

/// A rounded magnitude as decimal digits, plus its sign.
struct Decimal {
    negative: bool,
    int: String,
    frac: String,
}

/// Rounds half away from zero on the shortest decimal form of `value`, so
/// 2.005 (stored as 2.00499…) rounds the way the person typed it: 2.01.
/// With `trim`, trailing fractional zeros are dropped.
fn round_decimal(value: f64, places: usize, trim: bool) -> Option<Decimal> {
    if !value.is_finite() {
        return None;
    }
    // Display for f64 is the shortest round-trip form and never uses an
    // exponent, so this is plain digits with at most one '.'.
    let text = value.abs().to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes().take(places)).collect();
    if frac.as_bytes().get(places).is_some_and(|&b| b >= b'5') {
        let mut carry = true;
        for d in digits.iter_mut().rev() {
            if *d == b'9' {
                *d = b'0';
            } else {
                *d += 1;
                carry = false;
                break;
            }
        }
        if carry {
            digits.insert(0, b'1');
        }
    }
    let split = digits.len() - frac.len().min(places);
    let mut frac_digits = digits.split_off(split);
    if trim {
        while frac_digits.last() == Some(&b'0') {
            frac_digits.pop();
        }
    } else {
        frac_digits.resize(places, b'0');
    }
    let all_zero = digits.iter().chain(&frac_digits).all(|&d| d == b'0');
    Some(Decimal {
        // No "-0" or "-0.00" when rounding ate the whole value.
        negative: value.is_sign_negative() && !all_zero,
        int: String::from_utf8(digits).ok()?,
        frac: String::from_utf8(frac_digits).ok()?,
    })
}

/// The unsigned digits of `d`, grouped and with the locale's decimal mark.
fn localize_digits(d: &Decimal, locale: Locale) -> String {
    let symbols = number_symbols(locale);
    let len = d.int.len();
    let mut out = String::with_capacity(len + len / 3 * 3 + d.frac.len() + 1);
    let grouped = len >= 3 + symbols.min_grouping;
    for (i, ch) in d.int.chars().enumerate() {
        if grouped && i > 0 && (len - i).is_multiple_of(3) {
            out.push_str(symbols.group);
        }
        out.push(ch);
    }
    if !d.frac.is_empty() {
        out.push(symbols.decimal);
        out.push_str(&d.frac);
    }
    out
}

/// Grouped per locale: en 1,234,567.5; fr "1 234 567,5" with U+202F as the
/// group separator (CLDR); de/es/it/nl/pt "1.234.567,5"; es does not group
/// four-digit numbers ("1234", "12.345").
///
/// `decimals`: Some(n) rounds half away from zero to n places (values above 6
/// are taken as 6); None prints up to 6 decimals with trailing zeros dropped.
/// Negative numbers start with "-" (U+002D); a value that rounds to zero has
/// no sign. Non-finite values give None.
pub fn format_number(value: f64, decimals: Option<u8>, locale: Locale) -> Option<String> {
    let (places, trim) = match decimals {
        Some(n) => (usize::from(n.min(6)), false),
        None => (6, true),
    };
    let d = round_decimal(value, places, trim)?;
    let digits = localize_digits(&d, locale);
    Some(if d.negative {
        format!("-{digits}")
    } else {
        digits
    })
}

/// ISO 4217 code and minor-unit digits (CLDR "digits").
const CURRENCIES: [(&str, u8); 25] = [
    ("EUR", 2),
    ("USD", 2),
    ("GBP", 2),
    ("CHF", 2),
    ("JPY", 0),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("PLN", 2),
    ("CZK", 2),
    ("HUF", 2),
    ("RON", 2),
    ("ISK", 0),
    ("TRY", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("NZD", 2),
    ("MXN", 2),
    ("CNY", 2),
    ("HKD", 2),
    ("SGD", 2),
    ("KRW", 0),
    ("INR", 2),
    ("ZAR", 2),
];

fn currency(code: &str) -> Result<(&'static str, u8), FormatError> {
    CURRENCIES
        .into_iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(code))
        .ok_or(FormatError::UnknownCurrency)
}

/// € $ £ ¥ R$ for their currencies and the code for the rest, so a symbol is
/// never ambiguous. USD takes CLDR's per-locale symbol, because a bare "$"
/// reads as a local dollar outside en/de: fr "$US", es/nl/pt "US$", it "USD".
fn currency_symbol(code: &'static str, locale: Locale) -> &'static str {
    match (code, locale) {
        ("EUR", _) => "€",
        ("GBP", _) => "£",
        ("JPY", _) => "¥",
        ("BRL", _) => "R$",
        ("USD", Locale::En | Locale::De) => "$",
        ("USD", Locale::Fr) => "$US",
        ("USD", Locale::Es | Locale::Nl | Locale::Pt) => "US$",
        _ => code,
    }
}

/// Accepts the ISO 4217 codes Tessera knows, in any letter case.
pub fn check_currency(code: &str) -> Result<(), FormatError> {
    currency(code).map(|_| ())
}

/// ISO 4217 amount with the currency's minor digits (JPY, KRW, ISK: none),
/// placed per CLDR: en "€1,234.50", "CHF 1,234.50"; fr "1 234,50 €";
/// de/it "1.234,50 €"; es "1234,50 €", "12.345,50 €"; nl "€ 1.234,50",
/// "€ -1.234,50"; pt "R$ 1.234,50". The space next to a symbol is U+00A0 so
/// the amount never wraps away from it (for en, only letter codes get one,
/// as CLDR's currency spacing rule says). None for an unknown code or a
/// non-finite value.
pub fn format_currency(value: f64, code: &str, locale: Locale) -> Option<String> {
    const NBSP: char = '\u{A0}';
    let (code, places) = currency(code).ok()?;
    let d = round_decimal(value, usize::from(places), false)?;
    let amount = localize_digits(&d, locale);
    let sign = if d.negative { "-" } else { "" };
    let symbol = currency_symbol(code, locale);
    Some(match locale {
        Locale::En => {
            let gap = if symbol.ends_with(char::is_alphanumeric) {
                "\u{A0}"
            } else {
                ""
            };
            format!("{sign}{symbol}{gap}{amount}")
        }
        Locale::Fr | Locale::De | Locale::Es | Locale::It => {
            format!("{sign}{amount}{NBSP}{symbol}")
        }
        Locale::Nl => format!("{symbol}{NBSP}{sign}{amount}"),
        Locale::Pt => format!("{sign}{symbol}{NBSP}{amount}"),
    })
}

// ---------------------------------------------------------------------------
// Countdowns

/// The default countdown: "2 days 03:14:05".
pub const COUNTDOWN_PATTERN: &str = "%D %H:%M:%S";

fn is_countdown_directive(no_pad: bool, spec: char) -> bool {
    !no_pad && matches!(spec, 'd' | 'D' | 'H' | 'h' | 'M' | 'S' | '%')
}

/// Checks a countdown pattern once, when a template is saved.
pub fn check_countdown_pattern(pattern: &str) -> Result<(), FormatError> {
    check_pattern(pattern, is_countdown_directive, COUNTDOWN_DIRECTIVE)
}

/// "day" in the locale, singular or plural by CLDR's cardinal rules: fr and
/// pt (Brazil) treat 0 as singular ("0 jour"), the others only 1.
fn day_word(days: u64, locale: Locale) -> &'static str {
    let one = match locale {
        Locale::Fr | Locale::Pt => days <= 1,
        _ => days == 1,
    };
    let (singular, plural) = match locale {
        Locale::En => ("day", "days"),
        Locale::Fr => ("jour", "jours"),
        Locale::De => ("Tag", "Tage"),
        Locale::Es => ("día", "días"),
        Locale::Pt => ("dia", "dias"),
        Locale::It => ("giorno", "giorni"),
        Locale::Nl => ("dag", "dagen"),
    };
    if one { singular } else { plural }
}

/// A countdown's remaining time: %d days, %D days with the locale's word
/// ("2 days", "2 jours"), %H hours within the day 00-23, %h total hours,
/// %M minutes 00-59, %S seconds 00-59, %% a percent sign.
///
/// Assumes a checked pattern; an unknown directive is printed as written.
pub fn format_countdown(remaining_seconds: u64, pattern: &str, locale: Locale) -> String {
    let s = remaining_seconds;
    let days = s / 86_400;
    let mut out = String::with_capacity(pattern.len() + 16);
    for piece in pieces(pattern) {
        let (no_pad, spec, raw) = match piece {
            Piece::Literal(text) | Piece::Dangling(text) => {
                out.push_str(text);
                continue;
            }
            Piece::Directive { no_pad, spec, raw } => (no_pad, spec, raw),
        };
        if !is_countdown_directive(no_pad, spec) {
            out.push_str(raw);
            continue;
        }
        let _ = match spec {
            'd' => write!(out, "{days}"),
            'D' => write!(out, "{days} {}", day_word(days, locale)),
            'H' => write!(out, "{:02}", s % 86_400 / 3600),
            'h' => write!(out, "{}", s / 3600),
            'M' => write!(out, "{:02}", s % 3600 / 60),
            'S' => write!(out, "{:02}", s % 60),
            _ => write!(out, "%"),
        };
    }
    out
}

// ---------------------------------------------------------------------------
// Text

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ltr,
    Rtl,
}

/// The base direction of a paragraph by its first strong character (UAX #9
/// rules P2–P3: L → Ltr; R or AL → Rtl), skipping text inside directional
/// isolates; None when it has none (digits, punctuation only). The whole
/// value counts as one paragraph, as HTML's dir="auto" reads it.
pub fn direction(text: &str) -> Option<Direction> {
    let mut isolates = 0usize;
    for c in text.chars() {
        match bidi_class(c) {
            BidiClass::LRI | BidiClass::RLI | BidiClass::FSI => isolates += 1,
            BidiClass::PDI => isolates = isolates.saturating_sub(1),
            _ if isolates > 0 => {}
            BidiClass::L => return Some(Direction::Ltr),
            BidiClass::R | BidiClass::AL => return Some(Direction::Rtl),
            _ => {}
        }
    }
    None
}

/// Title case: first letter of each word upper-cased, the rest as typed
/// ("mcDonald" → "McDonald"); words split at whitespace and '-'. Leading
/// punctuation is skipped ("(paris)" → "(Paris)"), and a word that starts
/// with a digit is left alone ("2nd").
pub fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_start = true;
    for c in text.chars() {
        if c.is_whitespace() || c == '-' {
            at_start = true;
            out.push(c);
        } else if at_start && c.is_alphabetic() {
            at_start = false;
            out.extend(c.to_uppercase());
        } else {
            if c.is_alphanumeric() {
                at_start = false;
            }
            out.push(c);
        }
    }
    out
}

/// At most `n` characters (Unicode scalar values, never splitting one). When
/// cut, the last kept character becomes "…", so the result is n characters,
/// fewer only when spaces before the "…" were trimmed. n = 0 gives "".
pub fn truncate(text: &str, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    match text.char_indices().nth(n) {
        None => text.to_owned(),
        Some(_) => {
            // A char_indices offset is a char boundary, so the slice cannot panic.
            let keep = text.char_indices().nth(n - 1).map_or(0, |(i, _)| i);
            let mut out = text[..keep].trim_end().to_owned();
            out.push('…');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> TimeZone {
        time_zone("Europe/Paris").expect("bundled Europe/Paris")
    }

    fn eve() -> ZonedDateTime {
        parse_moment("2026-12-24T18:30", &paris()).expect("valid moment")
    }

    // -- locales ------------------------------------------------------------

    #[test]
    fn locale_parses_language_part() {
        for (text, want) in [
            ("en", Locale::En),
            ("fr", Locale::Fr),
            ("FR", Locale::Fr),
            ("fr-FR", Locale::Fr),
            ("pt_BR", Locale::Pt),
            ("pt-PT", Locale::Pt),
            ("de-AT", Locale::De),
            ("ES-419", Locale::Es),
            ("it", Locale::It),
            ("nl-BE", Locale::Nl),
        ] {
            assert_eq!(text.parse::<Locale>(), Ok(want), "{text}");
        }
        for bad in [
            "", "english", "f", "fr-", "-fr", "fr--FR", "fr FR", "zh", "en-US!",
        ] {
            assert_eq!(
                bad.parse::<Locale>(),
                Err(FormatError::UnknownLocale),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn locale_display_round_trips() {
        for locale in Locale::ALL {
            assert_eq!(locale.to_string().parse::<Locale>(), Ok(locale));
        }
        assert_eq!(Locale::Pt.to_string(), "pt");
        assert_eq!(Locale::default(), Locale::En);
    }

    #[test]
    fn error_messages_are_static() {
        assert_eq!(
            FormatError::UnknownLocale.to_string(),
            "unknown locale; Tessera has en, fr, de, es, pt, it, nl"
        );
        let err = check_date_pattern("%Q").expect_err("bad");
        assert!(
            err.to_string()
                .starts_with("bad pattern: unknown date directive")
        );
        assert!(!err.to_string().contains("%Q"));
        for (code, _) in CURRENCIES {
            assert!(
                FormatError::UnknownCurrency.to_string().contains(code),
                "{code}"
            );
        }
    }

    // -- time zones and moments -------------------------------------------

    #[test]
    fn time_zones_from_bundled_db() {
        assert_eq!(paris().iana_name(), Some("Europe/Paris"));
        assert!(time_zone("UTC").is_ok());
        assert_eq!(
            time_zone("america/new_york").map(|tz| tz.iana_name().map(str::to_owned)),
            Ok(Some("America/New_York".to_owned()))
        );
        for bad in [
            "",
            "Mars/Olympus",
            "Etc/Unknown",
            "../../etc/passwd",
            "Europe/Paris ",
        ] {
            assert_eq!(
                time_zone(bad).err(),
                Some(FormatError::UnknownTimeZone),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn parse_moment_forms() {
        let tz = paris();
        let cases = [
            ("2026-12-24", "2026-12-24T00:00:00+01:00"),
            ("2026-12-24T18:30", "2026-12-24T18:30:00+01:00"),
            ("2026-12-24T18:30:05", "2026-12-24T18:30:05+01:00"),
            ("2026-12-24 18:30", "2026-12-24T18:30:00+01:00"),
            ("  2026-12-24 18:30 ", "2026-12-24T18:30:00+01:00"),
            ("2026-12-24T18:30:00Z", "2026-12-24T19:30:00+01:00"),
            ("2026-12-24T18:30:00+01:00", "2026-12-24T18:30:00+01:00"),
            ("2026-12-24T18:30:00-05:00", "2026-12-25T00:30:00+01:00"),
            ("2026-12-24T18:30:00.250Z", "2026-12-24T19:30:00.25+01:00"),
            ("2026-06-24T18:30", "2026-06-24T18:30:00+02:00"),
            ("2016-12-31T23:59:60Z", "2017-01-01T00:59:59+01:00"),
        ];
        for (input, want) in cases {
            let got = parse_moment(input, &tz)
                .map(|z| z.timestamp().display_with_offset(z.offset()).to_string());
            assert_eq!(got.as_deref(), Some(want), "{input}");
        }
        assert_eq!(
            parse_moment("2026-12-24", &tz).map(|z| z.time_zone().iana_name().map(str::to_owned)),
            Some(Some("Europe/Paris".to_owned()))
        );
    }

    #[test]
    fn parse_moment_rejects() {
        let tz = paris();
        for bad in [
            "",
            "2026-02-30",
            "2026-13-01",
            "2026-12-24T24:00",
            "2026-12-24T18:60",
            "2026-12-24T18",
            "2026-12-24T18:30:5",
            "2026-12-24X18:30",
            "2026-12-24T18:30+0100",
            "2026-12-24T18:30:00+24:00",
            "2026-12-24T18:30:00Z junk",
            "2026-12-24T18:30:00.Z",
            "2026-12-24T18:30:00.1234567891Z",
            "20261224",
            "24/12/2026",
            "2026-1-24",
            "tomorrow",
            "２０２６-12-24",
        ] {
            assert!(parse_moment(bad, &tz).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn parse_moment_dst_gap_and_fold() {
        let ny = time_zone("America/New_York").expect("zone");
        // 02:30 does not exist on 2026-03-08: moved forward an hour.
        let gap = parse_moment("2026-03-08T02:30", &ny).expect("gap");
        assert_eq!(
            format_date(&gap, "%H:%M %Z %z", Locale::En),
            "03:30 EDT -0400"
        );
        // 01:30 happens twice on 2026-11-01: the earlier one (EDT).
        let fold = parse_moment("2026-11-01T01:30", &ny).expect("fold");
        assert_eq!(format_date(&fold, "%H:%M %Z", Locale::En), "01:30 EDT");
    }

    #[test]
    fn same_instant_in_other_zones() {
        let when = eve();
        let ny = when.with_time_zone(time_zone("America/New_York").expect("zone"));
        let tokyo = when.with_time_zone(time_zone("Asia/Tokyo").expect("zone"));
        let pattern = "%Y-%m-%d %H:%M %Z %z";
        assert_eq!(
            format_date(&when, pattern, Locale::En),
            "2026-12-24 18:30 CET +0100"
        );
        assert_eq!(
            format_date(&ny, pattern, Locale::En),
            "2026-12-24 12:30 EST -0500"
        );
        assert_eq!(
            format_date(&tokyo, pattern, Locale::En),
            "2026-12-25 02:30 JST +0900"
        );
        // Across the US spring-forward: one second apart, an hour apart on the wall.
        let ny_tz = time_zone("America/New_York").expect("zone");
        let before = parse_moment("2026-03-08T06:59:59Z", &ny_tz).expect("moment");
        let after = parse_moment("2026-03-08T07:00:00Z", &ny_tz).expect("moment");
        assert_eq!(
            format_date(&before, "%H:%M:%S %Z", Locale::En),
            "01:59:59 EST"
        );
        assert_eq!(
            format_date(&after, "%H:%M:%S %Z", Locale::En),
            "03:00:00 EDT"
        );
    }

    // -- dates ----------------------------------------------------------------

    #[test]
    fn date_names_per_locale() {
        let when = eve();
        let want = [
            (Locale::En, "Thursday 24 December, 18:30"),
            (Locale::Fr, "jeudi 24 décembre, 18:30"),
            (Locale::De, "Donnerstag 24 Dezember, 18:30"),
            (Locale::Es, "jueves 24 diciembre, 18:30"),
            (Locale::Pt, "quinta-feira 24 dezembro, 18:30"),
            (Locale::It, "giovedì 24 dicembre, 18:30"),
            (Locale::Nl, "donderdag 24 december, 18:30"),
        ];
        for (locale, text) in want {
            assert_eq!(
                format_date(&when, "%A %-d %B, %H:%M", locale),
                text,
                "{locale}"
            );
        }
        let abbr = [
            (Locale::En, "Thu 24 Dec"),
            (Locale::Fr, "jeu. 24 déc."),
            (Locale::De, "Do. 24 Dez."),
            (Locale::Es, "jue 24 dic"),
            (Locale::Pt, "qui. 24 dez."),
            (Locale::It, "gio 24 dic"),
            (Locale::Nl, "do 24 dec"),
        ];
        for (locale, text) in abbr {
            assert_eq!(format_date(&when, "%a %d %b", locale), text, "{locale}");
        }
    }

    #[test]
    fn every_name_in_every_locale() {
        // 2026-03-01 is a Sunday; walk a week and a year.
        let tz = paris();
        for locale in Locale::ALL {
            let n = names(locale);
            for day in 1..=7 {
                let when = parse_moment(&format!("2026-03-0{day}"), &tz).expect("date");
                assert_eq!(
                    format_date(&when, "%A|%a", locale),
                    format!("{}|{}", n.days[day - 1], n.days_abbr[day - 1])
                );
            }
            for month in 1..=12 {
                let when = parse_moment(&format!("2026-{month:02}-15"), &tz).expect("date");
                assert_eq!(
                    format_date(&when, "%B|%b", locale),
                    format!("{}|{}", n.months[month - 1], n.months_abbr[month - 1])
                );
            }
        }
        assert_eq!(DE.months_abbr[8], "Sept.");
        assert_eq!(FR.months_abbr[1], "févr.");
        assert_eq!(ES.months_abbr[0], "ene");
        assert_eq!(NL.months_abbr[2], "mrt");
    }

    #[test]
    fn numeric_date_directives() {
        let tz = paris();
        let when = parse_moment("2026-03-05T07:04:09", &tz).expect("moment");
        assert_eq!(
            format_date(
                &when,
                "%d|%-d|%e|%m|%-m|%Y|%y|%H|%-H|%I|%-I|%M|%S|%j|%-j|%p|%%",
                Locale::En
            ),
            "05|5| 5|03|3|2026|26|07|7|07|7|04|09|064|64|AM|%"
        );
        let evening = parse_moment("2026-03-05T00:15", &tz).expect("moment");
        assert_eq!(format_date(&evening, "%I:%M %p", Locale::En), "12:15 AM");
        assert_eq!(format_date(&eve(), "%-I:%M %p", Locale::En), "6:30 PM");
        // 24-hour locales: %p is empty.
        assert_eq!(format_date(&eve(), "%H:%M%p", Locale::Fr), "18:30");
        let utc = parse_moment("2026-12-31T23:59:59Z", &time_zone("UTC").expect("utc")).expect("m");
        assert_eq!(format_date(&utc, "%j %Z %z", Locale::En), "365 UTC +0000");
    }

    #[test]
    fn date_patterns_checked() {
        assert_eq!(
            check_date_pattern("%A %-d %B %Y, %H:%M %Z (%z) %j %e %% literal"),
            Ok(())
        );
        assert_eq!(check_date_pattern(""), Ok(()));
        assert_eq!(check_date_pattern("no directives"), Ok(()));
        for bad in ["%Q", "%-A", "%-", "50%", "%-%", "%é", "%D"] {
            assert!(
                matches!(check_date_pattern(bad), Err(FormatError::BadPattern(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_date_pattern("100%"),
            Err(FormatError::BadPattern(LONE_PERCENT))
        );
    }

    #[test]
    fn unchecked_date_pattern_prints_literally() {
        let when = eve();
        assert_eq!(
            format_date(&when, "%Q %-A %é 100%", Locale::En),
            "%Q %-A %é 100%"
        );
        assert_eq!(format_date(&when, "%H%-", Locale::En), "18%-");
        assert_eq!(format_date(&when, "", Locale::En), "");
    }

    // -- numbers ----------------------------------------------------------------

    #[test]
    fn numbers_per_locale() {
        let want = [
            (Locale::En, "1,234,567.5"),
            (Locale::Fr, "1\u{202F}234\u{202F}567,5"),
            (Locale::De, "1.234.567,5"),
            (Locale::Es, "1.234.567,5"),
            (Locale::Pt, "1.234.567,5"),
            (Locale::It, "1.234.567,5"),
            (Locale::Nl, "1.234.567,5"),
        ];
        for (locale, text) in want {
            assert_eq!(
                format_number(1_234_567.5, None, locale).as_deref(),
                Some(text),
                "{locale}"
            );
            let negative = format!("-{text}");
            assert_eq!(
                format_number(-1_234_567.5, None, locale),
                Some(negative),
                "{locale}"
            );
        }
    }

    #[test]
    fn spanish_does_not_group_four_digits() {
        let es = |v| format_number(v, None, Locale::Es);
        assert_eq!(es(1234.0).as_deref(), Some("1234"));
        assert_eq!(es(-9999.5).as_deref(), Some("-9999,5"));
        assert_eq!(es(12345.0).as_deref(), Some("12.345"));
        assert_eq!(es(1_234_567.0).as_deref(), Some("1.234.567"));
        assert_eq!(
            format_number(1234.0, None, Locale::De).as_deref(),
            Some("1.234")
        );
        assert_eq!(
            format_number(123.0, None, Locale::En).as_deref(),
            Some("123")
        );
    }

    #[test]
    fn number_rounding() {
        let en = |v, d| format_number(v, d, Locale::En);
        assert_eq!(en(2.005, Some(2)).as_deref(), Some("2.01"));
        assert_eq!(en(-2.005, Some(2)).as_deref(), Some("-2.01"));
        assert_eq!(en(2.004999, Some(2)).as_deref(), Some("2.00"));
        assert_eq!(en(0.5, Some(0)).as_deref(), Some("1"));
        assert_eq!(en(-0.5, Some(0)).as_deref(), Some("-1"));
        assert_eq!(en(999.995, Some(2)).as_deref(), Some("1,000.00"));
        assert_eq!(en(9.99, Some(1)).as_deref(), Some("10.0"));
        assert_eq!(en(1.5, Some(3)).as_deref(), Some("1.500"));
        assert_eq!(en(1.0, Some(9)).as_deref(), Some("1.000000"));
        assert_eq!(en(0.0, None).as_deref(), Some("0"));
        assert_eq!(en(-0.0, Some(2)).as_deref(), Some("0.00"));
        assert_eq!(en(-0.001, Some(2)).as_deref(), Some("0.00"));
        assert_eq!(en(0.1 + 0.2, None).as_deref(), Some("0.3"));
        assert_eq!(en(1.0 / 3.0, None).as_deref(), Some("0.333333"));
        assert_eq!(en(2.0 / 3.0, None).as_deref(), Some("0.666667"));
        assert_eq!(en(0.0000004, None).as_deref(), Some("0"));
        assert_eq!(en(1e-7, Some(6)).as_deref(), Some("0.000000"));
        assert_eq!(en(1.25, None).as_deref(), Some("1.25"));
        assert_eq!(
            en(1e21, None).as_deref(),
            Some("1,000,000,000,000,000,000,000")
        );
        assert_eq!(en(f64::MAX, Some(2)).map(|s| s.len()), Some(309 + 102 + 3));
        assert_eq!(
            format_number(1234.5, Some(2), Locale::Fr).as_deref(),
            Some("1\u{202F}234,50")
        );
    }

    #[test]
    fn non_finite_numbers() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(format_number(v, None, Locale::En), None);
            assert_eq!(format_currency(v, "EUR", Locale::En), None);
        }
    }

    // -- currencies -------------------------------------------------------------

    #[test]
    fn currencies_per_locale() {
        let nb = '\u{A0}';
        let nn = '\u{202F}';
        let cases = [
            (Locale::En, "EUR", 1234.5, "€1,234.50".to_owned()),
            (Locale::En, "USD", 1234.5, "$1,234.50".to_owned()),
            (Locale::En, "GBP", 1234.5, "£1,234.50".to_owned()),
            (Locale::En, "CHF", 1234.5, format!("CHF{nb}1,234.50")),
            (Locale::En, "JPY", 1234.5, "¥1,235".to_owned()),
            (Locale::En, "BRL", 1234.5, "R$1,234.50".to_owned()),
            (Locale::En, "EUR", -1234.5, "-€1,234.50".to_owned()),
            (Locale::En, "CHF", -1234.5, format!("-CHF{nb}1,234.50")),
            (Locale::Fr, "EUR", 1234.5, format!("1{nn}234,50{nb}€")),
            (Locale::Fr, "EUR", -1234.5, format!("-1{nn}234,50{nb}€")),
            (Locale::Fr, "USD", 1234.5, format!("1{nn}234,50{nb}$US")),
            (Locale::De, "EUR", 1234.5, format!("1.234,50{nb}€")),
            (Locale::De, "EUR", -1234.5, format!("-1.234,50{nb}€")),
            (Locale::De, "USD", 1234.5, format!("1.234,50{nb}$")),
            (Locale::De, "CHF", 1234.5, format!("1.234,50{nb}CHF")),
            (Locale::Es, "EUR", 1234.5, format!("1234,50{nb}€")),
            (Locale::Es, "EUR", 12345.5, format!("12.345,50{nb}€")),
            (Locale::Es, "USD", 1234.5, format!("1234,50{nb}US$")),
            (Locale::It, "EUR", 1234.5, format!("1.234,50{nb}€")),
            (Locale::It, "USD", 1234.5, format!("1.234,50{nb}USD")),
            (Locale::Nl, "EUR", 1234.5, format!("€{nb}1.234,50")),
            (Locale::Nl, "EUR", -1234.5, format!("€{nb}-1.234,50")),
            (Locale::Nl, "USD", 1234.5, format!("US${nb}1.234,50")),
            (Locale::Pt, "EUR", 1234.5, format!("€{nb}1.234,50")),
            (Locale::Pt, "BRL", 1234.5, format!("R${nb}1.234,50")),
            (Locale::Pt, "BRL", -1234.5, format!("-R${nb}1.234,50")),
            (Locale::Pt, "USD", 1234.5, format!("US${nb}1.234,50")),
            (Locale::De, "JPY", 1_234_567.0, format!("1.234.567{nb}¥")),
            (Locale::En, "EUR", 0.0, "€0.00".to_owned()),
            (Locale::En, "EUR", -0.004, "€0.00".to_owned()),
            (Locale::En, "EUR", 2.005, "€2.01".to_owned()),
            (Locale::En, "eur", 1e9, "€1,000,000,000.00".to_owned()),
        ];
        for (locale, code, value, want) in cases {
            assert_eq!(
                format_currency(value, code, locale),
                Some(want),
                "{locale} {code} {value}"
            );
        }
    }

    #[test]
    fn currency_codes_checked() {
        for code in [
            "EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CZK", "BRL", "CAD",
            "AUD", "usd",
        ] {
            assert_eq!(check_currency(code), Ok(()), "{code}");
            assert!(format_currency(1.0, code, Locale::En).is_some(), "{code}");
        }
        for bad in ["", "EU", "EURO", "XXX", "€", "BTC"] {
            assert_eq!(
                check_currency(bad),
                Err(FormatError::UnknownCurrency),
                "{bad:?}"
            );
            assert_eq!(format_currency(1.0, bad, Locale::En), None, "{bad:?}");
        }
        assert_eq!(
            format_currency(1.0, "SEK", Locale::Fr).as_deref(),
            Some("1,00\u{A0}SEK")
        );
    }

    // -- countdowns -------------------------------------------------------------

    #[test]
    fn countdowns_per_locale() {
        let two_days = 2 * 86_400 + 3 * 3600 + 14 * 60 + 5;
        let want = [
            (
                Locale::En,
                [
                    "0 days 00:00:00",
                    "0 days 00:00:59",
                    "1 day 00:00:00",
                    "2 days 03:14:05",
                ],
            ),
            (
                Locale::Fr,
                [
                    "0 jour 00:00:00",
                    "0 jour 00:00:59",
                    "1 jour 00:00:00",
                    "2 jours 03:14:05",
                ],
            ),
            (
                Locale::De,
                [
                    "0 Tage 00:00:00",
                    "0 Tage 00:00:59",
                    "1 Tag 00:00:00",
                    "2 Tage 03:14:05",
                ],
            ),
            (
                Locale::Es,
                [
                    "0 días 00:00:00",
                    "0 días 00:00:59",
                    "1 día 00:00:00",
                    "2 días 03:14:05",
                ],
            ),
            (
                Locale::Pt,
                [
                    "0 dia 00:00:00",
                    "0 dia 00:00:59",
                    "1 dia 00:00:00",
                    "2 dias 03:14:05",
                ],
            ),
            (
                Locale::It,
                [
                    "0 giorni 00:00:00",
                    "0 giorni 00:00:59",
                    "1 giorno 00:00:00",
                    "2 giorni 03:14:05",
                ],
            ),
            (
                Locale::Nl,
                [
                    "0 dagen 00:00:00",
                    "0 dagen 00:00:59",
                    "1 dag 00:00:00",
                    "2 dagen 03:14:05",
                ],
            ),
        ];
        for (locale, texts) in want {
            for (secs, text) in [0, 59, 86_400, two_days].into_iter().zip(texts) {
                assert_eq!(
                    format_countdown(secs, COUNTDOWN_PATTERN, locale),
                    text,
                    "{locale} {secs}"
                );
            }
        }
    }

    #[test]
    fn countdown_directives() {
        let s = 2 * 86_400 + 3 * 3600 + 14 * 60 + 5;
        assert_eq!(
            format_countdown(s, "%d|%h|%H|%M|%S|%%", Locale::En),
            "2|51|03|14|05|%"
        );
        assert_eq!(
            format_countdown(u64::MAX, "%d %h", Locale::En),
            "213503982334601 5124095576030431"
        );
        assert_eq!(
            format_countdown(5, "%Q %-S 100%", Locale::En),
            "%Q %-S 100%"
        );
        assert_eq!(check_countdown_pattern(COUNTDOWN_PATTERN), Ok(()));
        assert_eq!(check_countdown_pattern("%dd %hh %%"), Ok(()));
        for bad in ["%Y", "%-H", "%", "ends %-"] {
            assert!(
                matches!(
                    check_countdown_pattern(bad),
                    Err(FormatError::BadPattern(_))
                ),
                "{bad:?}"
            );
        }
    }

    // -- text ---------------------------------------------------------------------

    #[test]
    fn directions() {
        assert_eq!(direction("שלום"), Some(Direction::Rtl));
        assert_eq!(direction("مرحبا"), Some(Direction::Rtl));
        assert_eq!(direction("Hello"), Some(Direction::Ltr));
        assert_eq!(direction("123 שלום"), Some(Direction::Rtl));
        assert_eq!(direction("«Hello» שלום"), Some(Direction::Ltr));
        assert_eq!(direction("123"), None);
        assert_eq!(direction(" - 12,5 € !"), None);
        assert_eq!(direction(""), None);
        // Text inside an isolate does not decide (P2).
        assert_eq!(
            direction("\u{2067}Hello\u{2069} שלום"),
            Some(Direction::Rtl)
        );
    }

    #[test]
    fn title_cases() {
        assert_eq!(title_case("mcDonald"), "McDonald");
        assert_eq!(title_case("jean-luc picard"), "Jean-Luc Picard");
        assert_eq!(title_case("  élodie\tÉMILE"), "  Élodie\tÉMILE");
        assert_eq!(title_case("o'neil (paris) 2nd"), "O'neil (Paris) 2nd");
        assert_eq!(title_case("ßtraße"), "SStraße");
        assert_eq!(title_case(""), "");
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate("Hello", 10), "Hello");
        assert_eq!(truncate("Hello", 5), "Hello");
        assert_eq!(truncate("Hello world", 5), "Hell…");
        assert_eq!(truncate("Hello world", 7), "Hello…");
        assert_eq!(truncate("Hello", 0), "");
        assert_eq!(truncate("Hello", 1), "…");
        assert_eq!(truncate("", 3), "");
        assert_eq!(truncate("Ünïcödé ñame", 4), "Ünï…");
        assert_eq!(truncate("日本語のテキスト", 4), "日本語…");
        assert_eq!(truncate("😀😀😀😀", 3), "😀😀…");
        assert_eq!(truncate("😀😀😀", 3), "😀😀😀");
        assert_eq!(truncate("日本語のテキスト", 4).chars().count(), 4);
    }
}
