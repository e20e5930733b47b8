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

/// One layer, written with its `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Layer {
    Text(TextLayer),
    Image(ImageLayer),
    Shape(ShapeLayer),
}

impl Layer {
    /// Whether the layer is left out of every render.
    pub fn hidden(&self) -> bool {
        match self {
            Layer::Text(l) => l.hidden,
            Layer::Image(l) => l.hidden,
            Layer::Shape(l) => l.hidden,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    #[default]
    Left,
    Center,
    Right,
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
    #[serde(rename = "box")]
    pub area: Area,
    /// A label for editors (Studio's layers panel); never drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kept in the document but not drawn (and its picture not read).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
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
    #[serde(rename = "box")]
    pub area: Area,
    /// A label for editors (Studio's layers panel); never drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kept in the document but not drawn (and its picture not read).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
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
    #[serde(rename = "box")]
    pub area: Area,
    /// A label for editors (Studio's layers panel); never drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kept in the document but not drawn (and its picture not read).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
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
    let mut layers = Vec::with_capacity(raw.layers.len());
    for (i, mut value) in raw.layers.into_iter().enumerate() {
        let at = format!("$.layers[{i}]");
        let kind = value
            .as_object_mut()
            .and_then(|o| o.remove("type"))
            .and_then(|t| t.as_str().map(str::to_string));
        layers.push(match kind.as_deref() {
            Some("text") => Layer::Text(typed(value, &at)?),
            Some("image") => Layer::Image(typed(value, &at)?),
            Some("shape") => Layer::Shape(typed(value, &at)?),
            _ => {
                return Err(Invalid {
                    path: format!("{at}.type"),
                    reason: "must be \"text\", \"image\" or \"shape\"".into(),
                });
            }
        });
    }
    let template = Template {
        canvas: raw.canvas,
        fields: raw.fields,
        layers,
        email: raw.email,
    };
    template.validate()?;
    Ok(template)
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
        Ok(())
    }

    fn validate_layer(&self, layer: &Layer, at: &str) -> Result<(), Invalid> {
        let bad = |field: &str, reason: &str| Invalid {
            path: format!("{at}.{field}"),
            reason: reason.to_string(),
        };
        let (area, label) = match layer {
            Layer::Text(t) => (&t.area, &t.name),
            Layer::Image(l) => (&l.area, &l.name),
            Layer::Shape(s) => (&s.area, &s.name),
        };
        if label.as_ref().is_some_and(|n| n.chars().count() > 100) {
            return Err(bad("name", "layer names are at most 100 characters"));
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
        match layer {
            Layer::Text(t) => {
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
            Layer::Image(l) => {
                self.tags_are_declared(l.source.segments(), &format!("{at}.source"))?;
                if l.default.trim().is_empty() {
                    return Err(bad("default", "needs an identifier"));
                }
            }
            Layer::Shape(s) => {
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
    /// every image layer's default.
    pub fn check_resources(
        &self,
        families: &[String],
        covers: impl Fn(&str) -> bool,
        exists: impl Fn(&str) -> bool,
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
            match layer {
                Layer::Text(t) if !families.contains(&t.font) => {
                    return Err(Invalid {
                        path: format!("$.layers[{i}].font"),
                        reason: format!("unknown font; this server has {}", families.join(", ")),
                    });
                }
                Layer::Text(t) => {
                    let mut printed = t.text.segments().iter().map(|s| match s {
                        Segment::Literal(l) => l.as_str(),
                        Segment::Tag { default, .. } => default.as_deref().unwrap_or_default(),
                    });
                    if !printed.all(&covers) {
                        return Err(uncovered(format!("$.layers[{i}].text")));
                    }
                }
                Layer::Image(l) if !exists(&l.default) => {
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
        let (Layer::Shape(shape), Layer::Text(text)) = (&t.layers[0], &t.layers[1]) else {
            panic!("layer types");
        };
        assert_eq!(shape.fill, Color([245, 166, 35, 128]));
        assert_eq!(shape.area.y, Length::Percent(80.0));
        assert_eq!(text.area.y, Length::Percent(12.5));
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
        assert!(matches!(&t.layers[1], Layer::Text(l) if l.color == Color::BLACK));
    }
}
