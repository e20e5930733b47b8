//! A personalized-image template as JSON: a canvas, fields, and layers drawn in order. Parsing
//! and validation are pure; every error names the offending JSON path (`$.layers[2].size`).
//! Colours, lengths, merge tags and the base region are typed as the document is read, so a
//! bad one is refused when the template is saved, and neither requests nor drawing parse text.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fields::{Field, FieldSpec, Segment, Tagged};
use super::format::{self, Locale};
use super::rules::{BASE, Choice, Rule, Split, WHOLE, When};
use crate::error::{Code, Coded};
use crate::iiif::grammar::Region;

/// A template, as stored and as the admin API takes it. Read it with [`parse_template`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub canvas: Canvas,
    /// Fields by name, as merge tags and image sources refer to them.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
    #[serde(default)]
    pub layers: Vec<Layer>,
    /// Made for email: a bad signature or token answers with the all-defaults image instead of
    /// 403, because email proxies cache errors.
    #[serde(default)]
    pub email: bool,
    /// The language of day and month names, numbers and currencies in filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<Locale>,
    /// Where dates without an offset are read and shown; UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<Zone>,
    /// Named variants of the document, chosen by `rules`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, Variant>,
    /// Ordered: the first that holds chooses the variant; the last has no conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// Fields filled from a data set row, found by a recipient key field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataLink>,
}

/// An IANA time zone, kept with its name.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub tz: jiff::tz::TimeZone,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Zone, D::Error> {
        let name = String::deserialize(d)?;
        let tz = format::time_zone(&name).map_err(de::Error::custom)?;
        Ok(Zone { name, tz })
    }
}

impl Serialize for Locale {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Locale {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Locale, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// What a variant changes in the document it is based on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Replaces the canvas's base picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Base>,
    /// Replaces the canvas colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Color>,
    /// By layer name: the properties to replace (any but `type`), e.g. `{"text": "…"}` or
    /// `{"hidden": true}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layers: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

/// Where a template's data comes from: a data set of its project, and the field whose value
/// (an opaque recipient id in the URL) names the row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataLink {
    pub set: String,
    pub key: String,
}

/// What is under the layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    /// Fill colour under everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Color>,
    /// A Tessera identifier drawn to cover the canvas, optionally a region of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Base>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Base {
    pub identifier: String,
    /// An IIIF region, written `full`, `square`, `x,y,w,h` or `pct:x,y,w,h`.
    #[serde(default = "full", with = "region")]
    pub region: Region,
}

fn full() -> Region {
    Region::Full
}

/// A base region as the document writes it.
mod region {
    use super::*;

    pub fn serialize<S: Serializer>(r: &Region, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(r)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Region, D::Error> {
        String::deserialize(d)?.parse().map_err(|_| {
            de::Error::custom("not an IIIF region (full, square, x,y,w,h or pct:x,y,w,h)")
        })
    }
}

/// An RGBA colour (straight alpha), written `#rgb`, `#rrggbb` or `#rrggbbaa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Color(pub [u8; 4]);

impl Color {
    pub const BLACK: Color = Color([0, 0, 0, 255]);
}

impl FromStr for Color {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Color, Self::Err> {
        const BAD: &str = "not a #rgb, #rrggbb or #rrggbbaa colour";
        let digits: Vec<u8> = s
            .strip_prefix('#')
            .ok_or(BAD)?
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<_>>()
            .ok_or(BAD)?;
        let byte = |i: usize| digits[i] * 16 + digits[i + 1];
        match digits.len() {
            3 => Ok(Color([digits[0] * 17, digits[1] * 17, digits[2] * 17, 255])),
            6 => Ok(Color([byte(0), byte(2), byte(4), 255])),
            8 => Ok(Color([byte(0), byte(2), byte(4), byte(6)])),
            _ => Err(BAD),
        }
    }
}

/// `#rrggbb`, or `#rrggbbaa` when not opaque.
impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b, a] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")?;
        if a != 255 {
            write!(f, "{a:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for Color {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Color, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// A length: pixels (a JSON number), or a percentage of the canvas side (`"12.5%"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    Px(f64),
    Percent(f64),
}

impl Length {
    /// Pixels on a canvas side of `side` pixels.
    pub fn px(self, side: u32) -> f64 {
        match self {
            Length::Px(v) => v,
            Length::Percent(n) => n / 100.0 * side as f64,
        }
    }
}

impl Serialize for Length {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Length::Px(v) => s.serialize_f64(v),
            Length::Percent(n) => s.collect_str(&format_args!("{n}%")),
        }
    }
}

impl<'de> Deserialize<'de> for Length {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Length, D::Error> {
        struct LengthVisitor;
        impl Visitor<'_> for LengthVisitor {
            type Value = Length;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of pixels or \"N%\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Length, E> {
                Ok(Length::Px(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Length, E> {
                Ok(Length::Px(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Length, E> {
                Ok(Length::Px(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Length, E> {
                v.strip_suffix('%')
                    .and_then(|n| n.trim().parse().ok())
                    .map(Length::Percent)
                    .ok_or_else(|| E::custom("must be a number of pixels or \"N%\""))
            }
        }
        d.deserialize_any(LengthVisitor)
    }
}

/// Where a layer goes on the canvas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Area {
    pub x: Length,
    pub y: Length,
    pub width: Length,
    pub height: Length,
}

/// One layer: where it goes, what editors call it, when it shows, and what it draws
/// (written with its `"type"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    #[serde(flatten)]
    pub kind: LayerKind,
    #[serde(rename = "box")]
    pub area: Area,
    /// A label for editors (Studio's layers panel) and for variants to name; never drawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kept in the document but not drawn (and its picture not read).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// Drawn only for requests these conditions hold for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<When>,
}

/// What a layer draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum LayerKind {
    Text(TextLayer),
    Image(ImageLayer),
    Shape(ShapeLayer),
    Qr(QrLayer),
}

/// The properties every layer has, read apart from its kind's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Placement {
    #[serde(rename = "box")]
    area: Area,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    when: Option<When>,
}

const PLACEMENT: [&str; 4] = ["box", "name", "hidden", "when"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
    /// Where lines start in the text's own direction: left, or right for Arabic and Hebrew.
    Start,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VAlign {
    #[default]
    Top,
    Middle,
    Bottom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Case {
    #[default]
    None,
    Upper,
    Lower,
    Title,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextLayer {
    /// The text, with merge tags.
    pub text: Tagged,
    pub font: String,
    #[serde(default = "regular")]
    pub weight: u16,
    /// Font size in pixels; shrunk towards `min_size` until the text fits.
    pub size: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<f32>,
    /// Line height as a multiple of the size.
    #[serde(default = "line_height")]
    pub line_height: f32,
    #[serde(default = "black")]
    pub color: Color,
    #[serde(default)]
    pub align: Align,
    #[serde(default)]
    pub valign: VAlign,
    #[serde(default = "one")]
    pub max_lines: u32,
    #[serde(default)]
    pub case: Case,
}

fn regular() -> u16 {
    400
}
fn line_height() -> f32 {
    1.2
}
fn black() -> Color {
    Color::BLACK
}
fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    #[default]
    Cover,
    Contain,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageLayer {
    /// An identifier, or a merge tag naming a `url` field (e.g. `{{ rep_photo }}`).
    pub source: Tagged,
    /// Identifier drawn when the source is missing or cannot be read.
    pub default: String,
    #[serde(default)]
    pub fit: Fit,
    /// Clip to the circle inscribed in the box.
    #[serde(default)]
    pub circle: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShapeKind {
    Rect,
    Rounded,
    Circle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeLayer {
    pub shape: ShapeKind,
    /// Corner radius of a rounded rectangle, pixels.
    #[serde(default)]
    pub radius: f32,
    pub fill: Color,
    #[serde(default = "opaque")]
    pub opacity: f32,
}

fn opaque() -> f32 {
    1.0
}

/// A QR code error-correction level: how much of the code may be damaged and still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum QrLevel {
    L,
    #[default]
    M,
    Q,
    H,
}

/// A QR code, square, centred in its box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QrLayer {
    /// What the code holds, with merge tags: a ticket number, a verification link.
    pub data: Tagged,
    #[serde(default)]
    pub level: QrLevel,
    /// Light modules around the code; scanners want 4.
    #[serde(default = "four")]
    pub quiet_zone: u32,
    #[serde(default = "black")]
    pub color: Color,
    #[serde(default = "white")]
    pub background: Color,
}

fn four() -> u32 {
    4
}
fn white() -> Color {
    Color([255, 255, 255, 255])
}

/// An invalid template: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct Invalid {
    /// JSON path of the offending value, `$` for the document.
    pub path: String,
    pub reason: String,
}

/// Largest canvas side, pixels.
pub const MAX_SIDE: u32 = 8192;

/// The document before its layers are typed: serde's tagged enums buffer their content and
/// lose the path inside, so layers are read one by one with their own paths.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    canvas: Canvas,
    #[serde(default)]
    fields: BTreeMap<String, FieldSpec>,
    #[serde(default)]
    layers: Vec<serde_json::Value>,
    #[serde(default)]
    email: bool,
    #[serde(default)]
    locale: Option<Locale>,
    #[serde(default)]
    time_zone: Option<Zone>,
    #[serde(default)]
    variants: BTreeMap<String, Variant>,
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default)]
    data: Option<DataLink>,
}

/// Deserializes with the path of any error, prefixed by `at`.
fn typed<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    de: D,
    at: &str,
) -> Result<T, Invalid>
where
    D::Error: std::fmt::Display,
{
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.path().to_string();
        Invalid {
            path: if inner == "." {
                at.to_string()
            } else {
                format!("{at}.{inner}")
            },
            reason: e.into_inner().to_string(),
        }
    })
}

/// Parses and validates a template from JSON.
pub fn parse_template(json: &[u8]) -> Result<Template, Invalid> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let raw: Raw = typed(&mut de, "$")?;
    // Nothing may follow the document (found by fuzzing: bytes after it were accepted).
    de.end().map_err(|e| Invalid {
        path: "$".into(),
        reason: e.to_string(),
    })?;
    let layers = raw
        .layers
        .into_iter()
        .enumerate()
        .map(|(i, value)| parse_layer(value, &format!("$.layers[{i}]")))
        .collect::<Result<_, _>>()?;
    let template = Template {
        canvas: raw.canvas,
        fields: raw.fields,
        layers,
        email: raw.email,
        locale: raw.locale,
        time_zone: raw.time_zone,
        variants: raw.variants,
        rules: raw.rules,
        data: raw.data,
    };
    template.validate()?;
    Ok(template)
}

/// Reads one layer at `at`: its placement, then its kind's own properties.
fn parse_layer(mut value: serde_json::Value, at: &str) -> Result<Layer, Invalid> {
    let Some(object) = value.as_object_mut() else {
        return Err(Invalid {
            path: at.to_string(),
            reason: "a layer is an object".into(),
        });
    };
    let kind = object
        .remove("type")
        .and_then(|t| t.as_str().map(str::to_string));
    let placement: serde_json::Map<_, _> = PLACEMENT
        .iter()
        .filter_map(|k| object.remove(*k).map(|v| (k.to_string(), v)))
        .collect();
    let placement: Placement = typed(serde_json::Value::Object(placement), at)?;
    let kind = match kind.as_deref() {
        Some("text") => LayerKind::Text(typed(value, at)?),
        Some("image") => LayerKind::Image(typed(value, at)?),
        Some("shape") => LayerKind::Shape(typed(value, at)?),
        Some("qr") => LayerKind::Qr(typed(value, at)?),
        _ => {
            return Err(Invalid {
                path: format!("{at}.type"),
                reason: "must be \"text\", \"image\", \"shape\" or \"qr\"".into(),
            });
        }
    };
    Ok(Layer {
        kind,
        area: placement.area,
        name: placement.name,
        hidden: placement.hidden,
        when: placement.when,
    })
}

impl Template {
    /// Checks what the JSON types cannot: sizes, lengths and the fields merge tags name.
    pub fn validate(&self) -> Result<(), Invalid> {
        let bad = |path: String, reason: &str| Invalid {
            path,
            reason: reason.to_string(),
        };
        let c = &self.canvas;
        for (name, side) in [("width", c.width), ("height", c.height)] {
            if side == 0 || side > MAX_SIDE {
                return Err(bad(format!("$.canvas.{name}"), "must be 1 to 8192 pixels"));
            }
        }
        if c.background.is_none() && c.base.is_none() {
            return Err(bad(
                "$.canvas".into(),
                "needs a background colour or a base image",
            ));
        }
        for (name, spec) in &self.fields {
            let path = format!("$.fields.{name}");
            if !valid_name(name) {
                return Err(bad(path, "field names are letters, digits, _, - and ."));
            }
            if spec.max_length == 0 {
                return Err(bad(format!("{path}.max_length"), "must be at least 1"));
            }
            Field::new(spec.clone()).map_err(|e| bad(format!("{path}.pattern"), &e.to_string()))?;
        }
        for (i, layer) in self.layers.iter().enumerate() {
            self.validate_layer(layer, &format!("$.layers[{i}]"))?;
        }
        if let Some(link) = &self.data {
            if !crate::dataset::valid_set_name(&link.set) {
                return Err(bad(
                    "$.data.set".into(),
                    "data set names are 1 to 64 letters, digits, '-' or '_'",
                ));
            }
            if !self.fields.contains_key(&link.key) {
                return Err(bad("$.data.key".into(), "must name a declared field"));
            }
        }
        self.validate_rules()?;
        for name in self.variants.keys() {
            self.with_variant(name)?;
        }
        Ok(())
    }

    /// The time zone dates are read and shown in.
    pub fn tz(&self) -> jiff::tz::TimeZone {
        self.time_zone
            .as_ref()
            .map_or(jiff::tz::TimeZone::UTC, |z| z.tz.clone())
    }

    fn validate_when(&self, when: &When, at: &str) -> Result<(), Invalid> {
        let tz = self.tz();
        if when.is_empty() || when.iter().any(Vec::is_empty) {
            return Err(Invalid {
                path: at.to_string(),
                reason: "needs groups of at least one condition".into(),
            });
        }
        for (g, group) in when.iter().enumerate() {
            for (c, condition) in group.iter().enumerate() {
                let path = format!("{at}[{g}][{c}]");
                if !self.fields.contains_key(&condition.field) {
                    return Err(Invalid {
                        path: format!("{path}.field"),
                        reason: "must name a declared field".into(),
                    });
                }
                if condition.bad_moment(&tz) {
                    return Err(Invalid {
                        path,
                        reason: "not a date (YYYY-MM-DD, YYYY-MM-DDTHH:MM or RFC 3339) or \"now\""
                            .into(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Rules name declared variants, splits weigh to a whole, and the last rule decides for
    /// everyone the others leave.
    fn validate_rules(&self) -> Result<(), Invalid> {
        let bad = |path: String, reason: String| Invalid { path, reason };
        let known = |v: &str| v == BASE || self.variants.contains_key(v);
        if self.variants.contains_key(BASE) {
            return Err(bad(
                format!("$.variants.{BASE}"),
                format!("'{BASE}' is the template as written; name the variant otherwise"),
            ));
        }
        let mut splits = std::collections::BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("$.rules[{i}]");
            if let Some(when) = &rule.when {
                self.validate_when(when, &format!("{at}.when"))?;
            }
            match &rule.choice {
                Choice::Variant(v) if !known(v) => {
                    return Err(bad(
                        format!("{at}.variant"),
                        format!("no variant '{v}' in $.variants (or '{BASE}')"),
                    ));
                }
                Choice::Variant(_) => {}
                Choice::Split(Split { name, key, weights }) => {
                    if !valid_split_name(name) || !splits.insert(name.as_str()) {
                        return Err(bad(
                            format!("{at}.split.name"),
                            "split names are unique, 1 to 64 letters, digits, '-' or '_'".into(),
                        ));
                    }
                    if !self.fields.contains_key(key) {
                        return Err(bad(
                            format!("{at}.split.key"),
                            "must name a declared field".into(),
                        ));
                    }
                    if let Some(v) = weights.keys().find(|v| !known(v)) {
                        return Err(bad(
                            format!("{at}.split.weights.{v}"),
                            format!("no variant '{v}' in $.variants (or '{BASE}')"),
                        ));
                    }
                    let sum: u64 = weights.values().map(|w| *w as u64).sum();
                    if weights.len() < 2 || sum != WHOLE as u64 {
                        return Err(bad(
                            format!("{at}.split.weights"),
                            format!(
                                "at least two variants, weights in basis points summing to {WHOLE}"
                            ),
                        ));
                    }
                }
            }
        }
        if self.rules.last().is_some_and(|r| r.when.is_some()) {
            return Err(bad(
                format!("$.rules[{}].when", self.rules.len() - 1),
                "the last rule is the default: it has no conditions".into(),
            ));
        }
        Ok(())
    }

    /// The document as variant `name` draws it (the template itself for [`BASE`]), checked
    /// like any template. Its own variants and rules are left out.
    pub fn with_variant(&self, name: &str) -> Result<Template, Invalid> {
        let mut out = Template {
            variants: BTreeMap::new(),
            rules: Vec::new(),
            ..self.clone()
        };
        if name == BASE {
            return Ok(out);
        }
        let at = format!("$.variants.{name}");
        let variant = self.variants.get(name).ok_or_else(|| Invalid {
            path: "$.variants".into(),
            reason: format!("no variant '{name}'"),
        })?;
        if !valid_split_name(name) {
            return Err(Invalid {
                path: at,
                reason: "variant names are 1 to 64 letters, digits, '-' or '_'".into(),
            });
        }
        if let Some(base) = &variant.base {
            out.canvas.base = Some(base.clone());
        }
        if let Some(background) = variant.background {
            out.canvas.background = Some(background);
        }
        for (layer_name, changes) in &variant.layers {
            let path = format!("{at}.layers.{layer_name}");
            let mut named = out
                .layers
                .iter()
                .enumerate()
                .filter(|(_, l)| l.name.as_deref() == Some(layer_name.as_str()));
            let (i, None) = (named.next(), named.next()) else {
                return Err(Invalid {
                    path,
                    reason: "names two layers; variants need unique layer names".into(),
                });
            };
            let Some((i, layer)) = i else {
                return Err(Invalid {
                    path,
                    reason: "no layer has this name".into(),
                });
            };
            if changes.contains_key("type") {
                return Err(Invalid {
                    path: format!("{path}.type"),
                    reason: "a variant cannot change a layer's type".into(),
                });
            }
            let mut value = serde_json::to_value(layer).expect("layers serialise");
            let object = value.as_object_mut().expect("a layer is an object");
            for (k, v) in changes {
                object.insert(k.clone(), v.clone());
            }
            out.layers[i] = parse_layer(value, &path)?;
        }
        out.validate().map_err(|e| Invalid {
            path: format!("{at} → {}", e.path),
            reason: e.reason,
        })?;
        Ok(out)
    }

    /// Whether a render can change with the time of the request alone: a countdown, or a
    /// condition on a date against now.
    pub fn depends_on_now(&self) -> bool {
        let whens = self
            .layers
            .iter()
            .filter_map(|l| l.when.as_ref())
            .chain(self.rules.iter().filter_map(|r| r.when.as_ref()));
        self.has_countdown() || whens.flatten().flatten().any(|c| c.depends_on_now())
    }

    /// Whether a text layer counts down (the `countdown` filter): then it animates.
    pub fn has_countdown(&self) -> bool {
        self.layers.iter().any(|l| match &l.kind {
            LayerKind::Text(t) => t.text.has_countdown(),
            _ => false,
        })
    }

    fn validate_layer(&self, layer: &Layer, at: &str) -> Result<(), Invalid> {
        let bad = |field: &str, reason: &str| Invalid {
            path: format!("{at}.{field}"),
            reason: reason.to_string(),
        };
        let area = &layer.area;
        if layer.name.as_ref().is_some_and(|n| n.chars().count() > 100) {
            return Err(bad("name", "layer names are at most 100 characters"));
        }
        if let Some(when) = &layer.when {
            self.validate_when(when, &format!("{at}.when"))?;
        }
        let (w, h) = (self.canvas.width, self.canvas.height);
        for (name, len, side, positive) in [
            ("x", &area.x, w, false),
            ("y", &area.y, h, false),
            ("width", &area.width, w, true),
            ("height", &area.height, h, true),
        ] {
            let v = len.px(side);
            if !(v.is_finite() && (v > 0.0 || (!positive && v >= 0.0))) {
                let what = if positive {
                    "a positive"
                } else {
                    "a non-negative"
                };
                return Err(bad(
                    &format!("box.{name}"),
                    &format!("must be {what} number of pixels or \"N%\""),
                ));
            }
        }
        match &layer.kind {
            LayerKind::Text(t) => {
                self.tags_are_declared(t.text.segments(), &format!("{at}.text"))?;
                if !(t.size > 0.0 && t.size.is_finite()) {
                    return Err(bad("size", "must be positive"));
                }
                if t.min_size.is_some_and(|m| !(m > 0.0 && m <= t.size)) {
                    return Err(bad("min_size", "must be positive and at most size"));
                }
                if !(t.line_height > 0.0 && t.line_height.is_finite()) {
                    return Err(bad("line_height", "must be positive"));
                }
                if t.max_lines == 0 {
                    return Err(bad("max_lines", "must be at least 1"));
                }
                if !(100..=900).contains(&t.weight) {
                    return Err(bad("weight", "must be 100 to 900"));
                }
            }
            LayerKind::Image(l) => {
                self.tags_are_declared(l.source.segments(), &format!("{at}.source"))?;
                if l.default.trim().is_empty() {
                    return Err(bad("default", "needs an identifier"));
                }
            }
            LayerKind::Qr(q) => {
                self.tags_are_declared(q.data.segments(), &format!("{at}.data"))?;
                if q.quiet_zone > 16 {
                    return Err(bad("quiet_zone", "must be 0 to 16 modules"));
                }
            }
            LayerKind::Shape(s) => {
                if !(0.0..=1.0).contains(&s.opacity) {
                    return Err(bad("opacity", "must be 0 to 1"));
                }
                if !(s.radius >= 0.0 && s.radius.is_finite()) {
                    return Err(bad("radius", "must be non-negative"));
                }
            }
        }
        Ok(())
    }

    /// Checks what needs the server's fonts and images: every text layer's font is one of
    /// `families`, `covers` can draw every character the template itself prints (its literal
    /// text, tag defaults and field defaults), and `exists` says yes to the base image and
    /// every image layer's default — in the template as written and in each variant.
    pub fn check_resources(
        &self,
        families: &[String],
        covers: impl Fn(&str) -> bool,
        exists: impl Fn(&str) -> bool,
    ) -> Result<(), Invalid> {
        self.check_drawn(families, &covers, &exists)?;
        for name in self.variants.keys() {
            let drawn = self.with_variant(name)?;
            drawn
                .check_drawn(families, &covers, &exists)
                .map_err(|e| Invalid {
                    path: format!("$.variants.{name} → {}", e.path),
                    reason: e.reason,
                })?;
        }
        Ok(())
    }

    fn check_drawn(
        &self,
        families: &[String],
        covers: &dyn Fn(&str) -> bool,
        exists: &dyn Fn(&str) -> bool,
    ) -> Result<(), Invalid> {
        let uncovered = |path: String| Invalid {
            path,
            reason: "has characters no font on this server can draw".into(),
        };
        for (name, spec) in &self.fields {
            if !covers(&spec.default) {
                return Err(uncovered(format!("$.fields.{name}.default")));
            }
        }
        if let Some(b) = &self.canvas.base
            && !exists(&b.identifier)
        {
            return Err(Invalid {
                path: "$.canvas.base.identifier".into(),
                reason: format!("no image '{}' on this server", b.identifier),
            });
        }
        for (i, layer) in self.layers.iter().enumerate() {
            match &layer.kind {
                LayerKind::Text(t) if !families.contains(&t.font) => {
                    return Err(Invalid {
                        path: format!("$.layers[{i}].font"),
                        reason: format!("unknown font; this server has {}", families.join(", ")),
                    });
                }
                LayerKind::Text(t) => {
                    let mut printed = t.text.segments().iter().map(|s| match s {
                        Segment::Literal(l) => l.as_str(),
                        Segment::Tag { default, .. } => default.as_deref().unwrap_or_default(),
                    });
                    if !printed.all(covers) {
                        return Err(uncovered(format!("$.layers[{i}].text")));
                    }
                }
                LayerKind::Image(l) if !exists(&l.default) => {
                    return Err(Invalid {
                        path: format!("$.layers[{i}].default"),
                        reason: format!("no image '{}' on this server", l.default),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn tags_are_declared(&self, segments: &[Segment], path: &str) -> Result<(), Invalid> {
        for s in segments {
            if let Segment::Tag { field, .. } = s
                && !self.fields.contains_key(field)
            {
                return Err(Invalid {
                    path: path.to_string(),
                    reason: format!("merge tag names undeclared field '{field}'"),
                });
            }
        }
        Ok(())
    }
}

/// Split and variant names: they appear in usage reports and stop requests.
fn valid_split_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Coded for Invalid {
    fn code(&self) -> Code {
        Code::InvalidTemplate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn badge() -> serde_json::Value {
        json!({
            "canvas": {"width": 1200, "height": 630, "background": "#0b1f3a"},
            "email": true,
            "fields": {
                "name": {"max_length": 60, "open": true, "default": "there"},
                "rep_photo": {"kind": "url", "default": "reps/default.jpg"}
            },
            "layers": [
                {"type": "shape", "box": {"x": 0, "y": "80%", "width": "100%", "height": "20%"},
                 "shape": "rect", "fill": "#f5a623", "opacity": 0.9},
                {"type": "text", "box": {"x": "5%", "y": 40, "width": "60%", "height": 200},
                 "text": "Hi {{ name | default: \"there\" }}, see you Thursday",
                 "font": "Noto Sans", "weight": 700, "size": 64, "min_size": 28, "max_lines": 2,
                 "color": "#fff", "align": "left", "valign": "middle"},
                {"type": "image", "box": {"x": 900, "y": 100, "width": 240, "height": 240},
                 "source": "{{ rep_photo }}", "default": "reps/default.jpg", "circle": true}
            ]
        })
    }

    fn parse_value(v: &serde_json::Value) -> Result<Template, Invalid> {
        parse_template(v.to_string().as_bytes())
    }

    #[test]
    fn a_good_template_round_trips() {
        let t = parse_value(&badge()).unwrap();
        assert_eq!(t.layers.len(), 3);
        assert!(t.email);
        let again = parse_value(&serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(t, again);
    }

    #[test]
    fn errors_name_the_offending_path() {
        // (JSON pointer to change, new value, the path the error must name)
        let cases = [
            ("/canvas/width", json!(0), "$.canvas.width"),
            ("/canvas/background", json!("blue"), "$.canvas.background"),
            ("/layers/0/fill", json!("#ff00"), "$.layers[0].fill"),
            ("/layers/1/color", json!("white"), "$.layers[1].color"),
            ("/layers/1/color", json!(255), "$.layers[1].color"),
            ("/layers/1/size", json!("big"), "$.layers[1].size"),
            ("/layers/1/min_size", json!(90), "$.layers[1].min_size"),
            ("/layers/1/text", json!("Hi {{ nme }}"), "$.layers[1].text"),
            ("/layers/1/text", json!("Hi {{ name"), "$.layers[1].text"),
            (
                "/layers/0/box/width",
                json!("wide"),
                "$.layers[0].box.width",
            ),
            (
                "/layers/0/box/height",
                json!("0%"),
                "$.layers[0].box.height",
            ),
            ("/layers/0/box/x", json!(-1), "$.layers[0].box.x"),
            ("/layers/0/box/y", json!(true), "$.layers[0].box.y"),
            ("/layers/0/opacity", json!(2), "$.layers[0].opacity"),
            ("/layers/2/fit", json!("stretch"), "$.layers[2].fit"),
            (
                "/layers/2/source",
                json!("{{ photo }}"),
                "$.layers[2].source",
            ),
            ("/layers/0/type", json!("video"), "$.layers[0].type"),
            ("/fields/name/pattern", json!("("), "$.fields.name.pattern"),
        ];
        for (pointer, value, path) in cases {
            let mut v = badge();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            v.pointer_mut(parent)
                .and_then(|p| p.as_object_mut())
                .unwrap_or_else(|| panic!("{pointer}"))
                .insert(key.to_string(), value);
            let err = parse_value(&v).unwrap_err();
            assert_eq!(err.path, path, "{err}");
        }
        let mut v = badge();
        v["canvas"]["base"] = json!({"identifier": "x", "region": "left"});
        let err = parse_value(&v).unwrap_err();
        assert_eq!(err.path, "$.canvas.base.region");
        assert!(err.reason.contains("not an IIIF region"), "{err}");
        v["layers"][1]["color"] = json!("#12345");
        v["canvas"]["base"]["region"] = json!("full");
        let err = parse_value(&v).unwrap_err();
        assert_eq!(err.path, "$.layers[1].color");
        assert_eq!(err.reason, "not a #rgb, #rrggbb or #rrggbbaa colour");
        let mut v = badge();
        v["colour"] = json!(1);
        assert_eq!(parse_value(&v).unwrap_err().path, "$.colour");
    }

    #[test]
    fn fonts_and_images_must_exist_on_the_server() {
        let t = parse_value(&badge()).unwrap();
        let families = ["Noto Sans".to_string()];
        let all = |_: &str| true;
        assert_eq!(t.check_resources(&families, all, all), Ok(()));
        let err = t.check_resources(&families, all, |id| id != "reps/default.jpg");
        assert_eq!(err.unwrap_err().path, "$.layers[2].default");
        let err = t.check_resources(&["Inter".to_string()], all, all);
        assert_eq!(err.unwrap_err().path, "$.layers[1].font");
        let no_see = |s: &str| !s.contains("see");
        let err = t.check_resources(&families, no_see, all);
        assert_eq!(err.unwrap_err().path, "$.layers[1].text");
        let no_there = |s: &str| !s.contains("there");
        let err = t.check_resources(&families, no_there, all);
        assert_eq!(err.unwrap_err().path, "$.fields.name.default");
        // What a variant draws instead is checked too.
        let mut v = badge();
        v["layers"][1]["name"] = json!("greeting");
        v["variants"] = json!({"spring": {"base": {"identifier": "gone", "region": "full"},
                                          "layers": {"greeting": {"font": "Inter"}}}});
        let t = parse_value(&v).unwrap();
        let err = t.check_resources(&families, all, |id| id != "gone");
        assert_eq!(
            err.unwrap_err().path,
            "$.variants.spring → $.canvas.base.identifier"
        );
        let err = t.check_resources(&families, all, all);
        assert_eq!(
            err.unwrap_err().path,
            "$.variants.spring → $.layers[1].font"
        );
    }

    #[test]
    fn colours_lengths_and_regions_are_typed_once() {
        let color = |s: &str| s.parse::<Color>();
        assert_eq!(color("#fff"), Ok(Color([255, 255, 255, 255])));
        assert_eq!(color("#0b1f3a80"), Ok(Color([11, 31, 58, 128])));
        assert!(color("0b1f3a").is_err() && color("#12345").is_err() && color("#ggg").is_err());
        assert_eq!(Length::Percent(25.0).px(1200), 300.0);
        assert_eq!(Length::Px(12.5).px(1200), 12.5);

        let mut v = badge();
        v["canvas"]["base"] = json!({"identifier": "x", "region": "pct:10,20,50,50"});
        v["layers"][1]["box"]["y"] = json!(" 12.5 %");
        v["layers"][0]["fill"] = json!("#f5a62380");
        let t = parse_value(&v).unwrap();
        let base = t.canvas.base.as_ref().unwrap();
        assert!(matches!(base.region, Region::Percent { x: 10.0, .. }));
        assert_eq!(t.canvas.background, Some(Color([11, 31, 58, 255])));
        let (LayerKind::Shape(shape), LayerKind::Text(text)) =
            (&t.layers[0].kind, &t.layers[1].kind)
        else {
            panic!("layer types");
        };
        assert_eq!(shape.fill, Color([245, 166, 35, 128]));
        assert_eq!(t.layers[0].area.y, Length::Percent(80.0));
        assert_eq!(t.layers[1].area.y, Length::Percent(12.5));
        assert_eq!(text.color, Color([255, 255, 255, 255]));
        // Written back in the document's own notation.
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(back["canvas"]["background"], "#0b1f3a");
        assert_eq!(back["canvas"]["base"]["region"], "pct:10,20,50,50");
        assert_eq!(back["layers"][0]["fill"], "#f5a62380");
        assert_eq!(back["layers"][0]["box"]["width"], "100%");
        assert_eq!(back["layers"][1]["color"], "#ffffff");
        assert_eq!(back["layers"][1]["box"]["y"], "12.5%");
        assert_eq!(back["layers"][1]["box"]["height"], 200.0);
        assert_eq!(back["layers"][1]["text"], v["layers"][1]["text"]);
        assert_eq!(back["layers"][2]["source"], "{{ rep_photo }}");
        assert_eq!(text.text.segments().len(), 3);
        assert!(!text.text.is_literal());
        // Omitted: black text, the full base.
        v["layers"][1].as_object_mut().unwrap().remove("color");
        v["canvas"]["base"]
            .as_object_mut()
            .unwrap()
            .remove("region");
        let t = parse_value(&v).unwrap();
        assert_eq!(t.canvas.base.unwrap().region, Region::Full);
        assert!(matches!(&t.layers[1].kind, LayerKind::Text(l) if l.color == Color::BLACK));
    }
}
