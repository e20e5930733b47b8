//! The IIIF Image API 3.0 request grammar (§4): parsing of the region, size, rotation and
//! quality.format path segments, and printing them back in a form that parses to the same value.
//!
//! Pure: no I/O, no knowledge of the source image. What a request *means* for a given image
//! (crop rectangle, output size) is decided by [`crate::iiif::plan`].

use crate::error::{Code, Coded};
use std::fmt;
use std::str::FromStr;

/// Why a path segment is not valid IIIF 3.0 syntax. Each maps to 400 Bad Request, except
/// [`ParseError::UnsupportedFormat`], which names a format the spec defines but Tessera does
/// not produce (501 Not Implemented).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid region '{0}': expected full, square, x,y,w,h or pct:x,y,w,h")]
    Region(String),
    #[error(
        "invalid size '{0}': expected max, w,, ,h, pct:n, w,h or !w,h, optionally prefixed by ^"
    )]
    Size(String),
    #[error("invalid rotation '{0}': expected a number from 0 to 360, optionally prefixed by !")]
    Rotation(String),
    #[error("invalid quality '{0}': expected default, color, gray or bitonal")]
    Quality(String),
    #[error("invalid format '{0}': expected jpg, png, webp, gif or tif")]
    Format(String),
    #[error("format '{0}' is valid IIIF but not supported by this server")]
    UnsupportedFormat(String),
    #[error("invalid quality.format segment '{0}': expected quality.format, e.g. default.jpg")]
    QualityFormat(String),
    #[error("invalid identifier: {0}")]
    Identifier(&'static str),
    #[error(
        "not a IIIF path: expected {{identifier}}, {{identifier}}/info.json or {{identifier}}/{{region}}/{{size}}/{{rotation}}/{{quality}}.{{format}}"
    )]
    Path,
}

/// What a path below the prefix asks for (§3).
#[derive(Debug, Clone, PartialEq)]
pub enum IiifPath {
    /// `{identifier}`: the base URI, redirected to info.json.
    Base { identifier: String },
    /// `{identifier}/info.json`
    Info { identifier: String },
    /// `{identifier}/{region}/{size}/{rotation}/{quality}.{format}`
    Image {
        identifier: String,
        request: ImageRequest,
    },
}

/// Parses the still percent-encoded path below the prefix (without its leading `/`).
///
/// The identifier is one path segment, percent-decoded exactly once: `a%2Fb` is the identifier
/// `a/b`, and `%252F` stays the three characters `%2F`. It must be UTF-8 and hold no NUL.
pub fn parse_path(path: &str) -> Result<IiifPath, ParseError> {
    let segments: Vec<&str> = path.split('/').collect();
    let identifier = decode_identifier(segments[0])?;
    match segments[1..] {
        [] => Ok(IiifPath::Base { identifier }),
        ["info.json"] => Ok(IiifPath::Info { identifier }),
        [region, size, rotation, quality_format] => {
            // Clients may percent-encode `^`, `!` or `,` (as %5E, %21, %2C): decode once.
            let d = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Ok(IiifPath::Image {
                identifier,
                request: ImageRequest::parse(
                    &d(region),
                    &d(size),
                    &d(rotation),
                    &d(quality_format),
                )?,
            })
        }
        _ => Err(ParseError::Path),
    }
}

/// Percent-decodes one identifier segment exactly once; it must be UTF-8 and hold no NUL.
pub fn decode_identifier(raw: &str) -> Result<String, ParseError> {
    if raw.is_empty() {
        return Err(ParseError::Identifier("empty"));
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ParseError::Identifier("not UTF-8 once percent-decoded"))?;
    if decoded.contains('\0') {
        return Err(ParseError::Identifier("contains NUL"));
    }
    Ok(decoded.into_owned())
}

/// Characters left as they are when an identifier is printed into a URL: RFC 3986's unreserved
/// set. Everything else, `/` included, is percent-encoded.
const IDENTIFIER_SAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes an identifier for use as one URL path segment.
pub fn encode_identifier(identifier: &str) -> String {
    percent_encoding::utf8_percent_encode(identifier, IDENTIFIER_SAFE).to_string()
}

/// The region parameter (§4.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Region {
    Full,
    Square,
    Pixels { x: u32, y: u32, w: u32, h: u32 },
    Percent { x: f64, y: f64, w: f64, h: f64 },
}

/// The size parameter (§4.2): a form and whether `^` allows upscaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size {
    pub upscale: bool,
    pub kind: SizeKind,
}

/// The size forms, without the `^` prefix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeKind {
    /// `max`
    Max,
    /// `w,`
    Width(u32),
    /// `,h`
    Height(u32),
    /// `pct:n`
    Percent(f64),
    /// `w,h`
    Exact(u32, u32),
    /// `!w,h`: the largest size that fits in w×h, keeping the aspect ratio.
    Confined(u32, u32),
}

/// The rotation parameter (§4.3): mirror about the vertical axis first, then rotate clockwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rotation {
    pub mirror: bool,
    /// Degrees clockwise, 0 ≤ degrees ≤ 360.
    pub degrees: f64,
}

/// The quality parameter (§4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Quality {
    Default,
    Color,
    Gray,
    Bitonal,
}

/// Output formats Tessera produces (§4.5). `jp2` and `pdf` are recognised by the parser and
/// refused with [`ParseError::UnsupportedFormat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpg,
    Png,
    Webp,
    Gif,
    Tif,
    /// A one-page PDF with the image as its page (certificates to print).
    Pdf,
}

/// A parsed image request: everything after the identifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageRequest {
    pub region: Region,
    pub size: Size,
    pub rotation: Rotation,
    pub quality: Quality,
    pub format: Format,
}

impl ImageRequest {
    /// Parses the four path segments `region/size/rotation/quality.format`.
    pub fn parse(
        region: &str,
        size: &str,
        rotation: &str,
        quality_format: &str,
    ) -> Result<Self, ParseError> {
        let (quality, format) = quality_format
            .rsplit_once('.')
            .ok_or_else(|| ParseError::QualityFormat(quality_format.to_string()))?;
        Ok(ImageRequest {
            region: region.parse()?,
            size: size.parse()?,
            rotation: rotation.parse()?,
            quality: quality.parse()?,
            format: format.parse()?,
        })
    }
}

impl fmt::Display for ImageRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}.{}",
            self.region, self.size, self.rotation, self.quality, self.format
        )
    }
}

/// An unsigned decimal integer: ASCII digits only (no sign, no spaces), fitting in u32.
fn parse_uint(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An unsigned decimal number as the spec allows for percentages and degrees: digits with an
/// optional fraction (`10`, `10.5`, `.5`, `10.`). No sign, exponent, `inf` or `nan`.
fn parse_decimal(s: &str) -> Option<f64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return None;
    }
    s.parse().ok().filter(|v: &f64| v.is_finite())
}

/// Exactly `n` comma-separated parts.
fn split_n<const N: usize>(s: &str) -> Option<[&str; N]> {
    let parts: Vec<&str> = s.split(',').collect();
    parts.try_into().ok()
}

/// Prints a float the way the spec's canonical form wants it: an integer when integral,
/// otherwise the shortest decimal without trailing zeros.
pub fn format_decimal(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        // Rust's shortest round-trip representation never has trailing zeros.
        format!("{v}")
    }
}

impl FromStr for Region {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseError::Region(s.to_string());
        match s {
            "full" => Ok(Region::Full),
            "square" => Ok(Region::Square),
            _ => {
                if let Some(rest) = s.strip_prefix("pct:") {
                    let [x, y, w, h] = split_n::<4>(rest).ok_or_else(err)?;
                    let p = |v: &str| parse_decimal(v).ok_or_else(err);
                    Ok(Region::Percent {
                        x: p(x)?,
                        y: p(y)?,
                        w: p(w)?,
                        h: p(h)?,
                    })
                } else {
                    let [x, y, w, h] = split_n::<4>(s).ok_or_else(err)?;
                    let p = |v: &str| parse_uint(v).ok_or_else(err);
                    Ok(Region::Pixels {
                        x: p(x)?,
                        y: p(y)?,
                        w: p(w)?,
                        h: p(h)?,
                    })
                }
            }
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Region::Full => f.write_str("full"),
            Region::Square => f.write_str("square"),
            Region::Pixels { x, y, w, h } => write!(f, "{x},{y},{w},{h}"),
            Region::Percent { x, y, w, h } => write!(
                f,
                "pct:{},{},{},{}",
                format_decimal(x),
                format_decimal(y),
                format_decimal(w),
                format_decimal(h)
            ),
        }
    }
}

impl FromStr for Size {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseError::Size(s.to_string());
        let (upscale, rest) = match s.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let kind = if rest == "max" {
            SizeKind::Max
        } else if let Some(n) = rest.strip_prefix("pct:") {
            SizeKind::Percent(parse_decimal(n).ok_or_else(err)?)
        } else {
            let (confined, wh) = match rest.strip_prefix('!') {
                Some(wh) => (true, wh),
                None => (false, rest),
            };
            let [w, h] = split_n::<2>(wh).ok_or_else(err)?;
            match (w.is_empty(), h.is_empty(), confined) {
                (false, true, false) => SizeKind::Width(parse_uint(w).ok_or_else(err)?),
                (true, false, false) => SizeKind::Height(parse_uint(h).ok_or_else(err)?),
                (false, false, _) => {
                    let (w, h) = (
                        parse_uint(w).ok_or_else(err)?,
                        parse_uint(h).ok_or_else(err)?,
                    );
                    if confined {
                        SizeKind::Confined(w, h)
                    } else {
                        SizeKind::Exact(w, h)
                    }
                }
                _ => return Err(err()),
            }
        };
        Ok(Size { upscale, kind })
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.upscale {
            f.write_str("^")?;
        }
        match self.kind {
            SizeKind::Max => f.write_str("max"),
            SizeKind::Width(w) => write!(f, "{w},"),
            SizeKind::Height(h) => write!(f, ",{h}"),
            SizeKind::Percent(n) => write!(f, "pct:{}", format_decimal(n)),
            SizeKind::Exact(w, h) => write!(f, "{w},{h}"),
            SizeKind::Confined(w, h) => write!(f, "!{w},{h}"),
        }
    }
}

impl FromStr for Rotation {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (mirror, n) = match s.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, s),
        };
        match parse_decimal(n) {
            Some(degrees) if degrees <= 360.0 => Ok(Rotation { mirror, degrees }),
            _ => Err(ParseError::Rotation(s.to_string())),
        }
    }
}

impl fmt::Display for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mirror {
            f.write_str("!")?;
        }
        f.write_str(&format_decimal(self.degrees))
    }
}

impl FromStr for Quality {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(Quality::Default),
            "color" => Ok(Quality::Color),
            "gray" => Ok(Quality::Gray),
            "bitonal" => Ok(Quality::Bitonal),
            _ => Err(ParseError::Quality(s.to_string())),
        }
    }
}

impl Quality {
    /// The name used in URLs and info.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Default => "default",
            Quality::Color => "color",
            Quality::Gray => "gray",
            Quality::Bitonal => "bitonal",
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jpg" => Ok(Format::Jpg),
            "png" => Ok(Format::Png),
            "webp" => Ok(Format::Webp),
            "gif" => Ok(Format::Gif),
            "tif" => Ok(Format::Tif),
            "pdf" => Ok(Format::Pdf),
            "jp2" => Err(ParseError::UnsupportedFormat(s.to_string())),
            _ => Err(ParseError::Format(s.to_string())),
        }
    }
}

impl Format {
    /// Every format Tessera produces, in the order info.json lists them.
    pub const ALL: [Format; 6] = [
        Format::Jpg,
        Format::Png,
        Format::Webp,
        Format::Gif,
        Format::Tif,
        Format::Pdf,
    ];

    /// The extension used in URLs.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Gif => "gif",
            Format::Tif => "tif",
            Format::Pdf => "pdf",
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Jpg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Gif => "image/gif",
            Format::Tif => "image/tiff",
            Format::Pdf => "application/pdf",
        }
    }

    /// The largest width or height the format can store.
    pub fn max_dimension(self) -> u32 {
        match self {
            // A PDF page holds a JPEG.
            Format::Jpg | Format::Gif | Format::Pdf => 65_535,
            Format::Webp => 16_383,
            Format::Png | Format::Tif => i32::MAX as u32,
        }
    }

    /// Whether the format can carry transparency (decides the background of arbitrary rotations).
    pub fn has_alpha(self) -> bool {
        !matches!(self, Format::Jpg | Format::Pdf)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl Coded for ParseError {
    fn code(&self) -> Code {
        match self {
            ParseError::UnsupportedFormat(_) => Code::UnsupportedFormat,
            ParseError::Identifier(_) => Code::BadIdentifier,
            // A path of the wrong shape (an unescaped `/` in an identifier, say) names no
            // resource: both official validators expect 404 here.
            ParseError::Path => Code::NoRoute,
            ParseError::Region(_)
            | ParseError::Size(_)
            | ParseError::Rotation(_)
            | ParseError::Quality(_)
            | ParseError::Format(_)
            | ParseError::QualityFormat(_) => Code::BadSyntax,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn req(s: &str) -> Result<ImageRequest, ParseError> {
        let p: Vec<&str> = s.split('/').collect();
        ImageRequest::parse(p[0], p[1], p[2], p[3])
    }

    /// Every example URL of the IIIF Image API 3.0 specification (§4.1–§4.5) parses, and prints
    /// back to the same text.
    #[test]
    fn spec_examples_round_trip() {
        for s in [
            "full/max/0/default.jpg",
            "square/max/0/default.jpg",
            "125,15,120,140/max/0/default.jpg",
            "pct:41.6,7.5,40,70/max/0/default.jpg",
            "125,15,200,200/max/0/default.jpg",
            "pct:41.6,7.5,66.6,100/max/0/default.jpg",
            "full/max/0/default.jpg",
            "full/^max/0/default.jpg",
            "full/150,/0/default.jpg",
            "full/^360,/0/default.jpg",
            "full/,150/0/default.jpg",
            "full/^,240/0/default.jpg",
            "full/pct:50/0/default.jpg",
            "full/^pct:120/0/default.jpg",
            "full/225,100/0/default.jpg",
            "full/^360,360/0/default.jpg",
            "full/!225,100/0/default.jpg",
            "full/^!360,360/0/default.jpg",
            "full/max/0/default.jpg",
            "full/max/180/default.jpg",
            "full/max/90/default.png",
            "full/max/22.5/default.png",
            "full/max/!0/default.jpg",
            "full/max/!180/default.jpg",
            "full/max/0/color.jpg",
            "full/max/0/gray.jpg",
            "full/max/0/bitonal.jpg",
            "full/max/0/default.png",
            "full/max/0/default.webp",
            "full/max/0/default.gif",
            "full/max/0/default.tif",
        ] {
            let parsed = req(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(parsed.to_string(), s);
            assert_eq!(req(&parsed.to_string()).unwrap(), parsed);
        }
    }

    #[test]
    fn region_forms() {
        assert_eq!("full".parse(), Ok(Region::Full));
        assert_eq!("square".parse(), Ok(Region::Square));
        assert_eq!(
            "1,2,3,4".parse(),
            Ok(Region::Pixels {
                x: 1,
                y: 2,
                w: 3,
                h: 4
            })
        );
        assert_eq!(
            "pct:.5,1.,50,100".parse(),
            Ok(Region::Percent {
                x: 0.5,
                y: 1.0,
                w: 50.0,
                h: 100.0
            })
        );
        for bad in [
            "",
            "ful",
            "1,2,3",
            "1,2,3,4,5",
            "-1,2,3,4",
            "+1,2,3,4",
            "1.5,2,3,4",
            "1,2,3,",
            "pct:1,2,3",
            "pct:-1,2,3,4",
            "pct:1e2,2,3,4",
            "pct:nan,1,1,1",
            "pct:.,1,1,1",
            " 1,2,3,4",
            "1, 2,3,4",
            "99999999999,1,1,1",
        ] {
            assert!(bad.parse::<Region>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn size_forms() {
        let s = |t: &str| t.parse::<Size>();
        let plain = |kind| {
            Ok(Size {
                upscale: false,
                kind,
            })
        };
        let up = |kind| {
            Ok(Size {
                upscale: true,
                kind,
            })
        };
        assert_eq!(s("max"), plain(SizeKind::Max));
        assert_eq!(s("^max"), up(SizeKind::Max));
        assert_eq!(s("150,"), plain(SizeKind::Width(150)));
        assert_eq!(s("^150,"), up(SizeKind::Width(150)));
        assert_eq!(s(",150"), plain(SizeKind::Height(150)));
        assert_eq!(s("^,150"), up(SizeKind::Height(150)));
        assert_eq!(s("pct:50"), plain(SizeKind::Percent(50.0)));
        assert_eq!(s("^pct:150.5"), up(SizeKind::Percent(150.5)));
        assert_eq!(s("10,20"), plain(SizeKind::Exact(10, 20)));
        assert_eq!(s("^10,20"), up(SizeKind::Exact(10, 20)));
        assert_eq!(s("!10,20"), plain(SizeKind::Confined(10, 20)));
        assert_eq!(s("^!10,20"), up(SizeKind::Confined(10, 20)));
        for bad in [
            "full", "", ",", "^", "^^max", "!10,", "!,10", "10", "a,", "pct:", "pct:-5",
            "10,20,30", "!^10,20", "max,", " 10,",
        ] {
            assert!(s(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn rotation_forms() {
        let r = |t: &str| t.parse::<Rotation>();
        assert_eq!(
            r("0"),
            Ok(Rotation {
                mirror: false,
                degrees: 0.0
            })
        );
        assert_eq!(
            r("!22.5"),
            Ok(Rotation {
                mirror: true,
                degrees: 22.5
            })
        );
        assert_eq!(
            r("360"),
            Ok(Rotation {
                mirror: false,
                degrees: 360.0
            })
        );
        for bad in [
            "", "!", "-90", "360.1", "400", "90!", "!!90", "1e2", "abc", "inf",
        ] {
            assert!(r(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn quality_and_format() {
        assert_eq!(req("full/max/0/gray.png").unwrap().quality, Quality::Gray);
        assert_eq!(
            req("full/max/0/default.jpg.png").err(),
            Some(ParseError::Quality("default.jpg".into()))
        );
        assert_eq!(
            req("full/max/0/grey.jpg").err(),
            Some(ParseError::Quality("grey".into()))
        );
        assert_eq!(
            req("full/max/0/default.jp2").err(),
            Some(ParseError::UnsupportedFormat("jp2".into()))
        );
        assert_eq!(
            req("full/max/0/default.JPG").err(),
            Some(ParseError::Format("JPG".into()))
        );
        assert_eq!(
            req("full/max/0/default").err(),
            Some(ParseError::QualityFormat("default".into()))
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("abc"),
            Ok(IiifPath::Base {
                identifier: "abc".into()
            })
        );
        assert_eq!(
            parse_path("a%2Fb/info.json"),
            Ok(IiifPath::Info {
                identifier: "a/b".into()
            })
        );
        assert_eq!(
            parse_path("a%252Fb/info.json"),
            Ok(IiifPath::Info {
                identifier: "a%2Fb".into()
            })
        );
        assert_eq!(
            parse_path("%2D1/info.json"),
            Ok(IiifPath::Info {
                identifier: "-1".into()
            })
        );
        match parse_path("x/full/max/0/default.jpg").unwrap() {
            IiifPath::Image {
                identifier,
                request,
            } => {
                assert_eq!(identifier, "x");
                assert_eq!(request.to_string(), "full/max/0/default.jpg");
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            "",
            "/info.json",
            "a/b/info.json",
            "a/",
            "a/full/max/0",
            "a/full/max/0/default.jpg/x",
        ] {
            assert!(parse_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_path("a%00b/info.json"),
            Err(ParseError::Identifier("contains NUL"))
        );
        assert_eq!(
            parse_path("a%FFb/info.json"),
            Err(ParseError::Identifier("not UTF-8 once percent-decoded"))
        );
        assert_eq!(
            parse_path("a/full/max/0/default.jp2"),
            Err(ParseError::UnsupportedFormat("jp2".into()))
        );
    }

    #[test]
    fn identifiers_encode_as_one_segment() {
        assert_eq!(encode_identifier("a/b c%"), "a%2Fb%20c%25");
        assert_eq!(encode_identifier("67352ccc-d1b0_x.~"), "67352ccc-d1b0_x.~");
        for id in ["a/b", "ü[x]", "%2F", "a b"] {
            assert_eq!(
                parse_path(&encode_identifier(id)),
                Ok(IiifPath::Base {
                    identifier: id.into()
                })
            );
        }
    }

    /// Random valid requests (seeded, so failures reproduce) of every form.
    pub(crate) fn random_request(rng: &mut fastrand::Rng) -> ImageRequest {
        let dec = |rng: &mut fastrand::Rng, max: u32| {
            let v = rng.u32(0..=max * 1000) as f64 / 1000.0;
            if rng.bool() { v.trunc() } else { v }
        };
        let region = match rng.u8(0..4) {
            0 => Region::Full,
            1 => Region::Square,
            2 => Region::Pixels {
                x: rng.u32(0..3000),
                y: rng.u32(0..3000),
                w: rng.u32(0..3000),
                h: rng.u32(0..3000),
            },
            _ => Region::Percent {
                x: dec(rng, 100),
                y: dec(rng, 100),
                w: dec(rng, 100),
                h: dec(rng, 100),
            },
        };
        let (w, h) = (rng.u32(0..4000), rng.u32(0..4000));
        let kind = match rng.u8(0..6) {
            0 => SizeKind::Max,
            1 => SizeKind::Width(w),
            2 => SizeKind::Height(h),
            3 => SizeKind::Percent(dec(rng, 300)),
            4 => SizeKind::Exact(w, h),
            _ => SizeKind::Confined(w, h),
        };
        ImageRequest {
            region,
            size: Size {
                upscale: rng.bool(),
                kind,
            },
            rotation: Rotation {
                mirror: rng.bool(),
                degrees: dec(rng, 359),
            },
            quality: [
                Quality::Default,
                Quality::Color,
                Quality::Gray,
                Quality::Bitonal,
            ][rng.usize(0..4)],
            format: Format::ALL[rng.usize(0..Format::ALL.len())],
        }
    }

    /// Property: parse ∘ print is the identity on every valid request.
    #[test]
    fn printing_then_parsing_round_trips() {
        let mut rng = fastrand::Rng::with_seed(2);
        for _ in 0..20_000 {
            let req = random_request(&mut rng);
            let text = req.to_string();
            let p: Vec<&str> = text.split('/').collect();
            assert_eq!(
                ImageRequest::parse(p[0], p[1], p[2], p[3]),
                Ok(req),
                "{text}"
            );
        }
    }

    /// Property: arbitrary text made of URL characters never panics the path parser.
    #[test]
    fn arbitrary_paths_never_panic() {
        const ALPHABET: &[u8] = b"0123456789,.:!^/%2FfulsqaremxpctdegryjnoiwbhEF-~ ";
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..50_000 {
            let len = rng.usize(0..48);
            let s: String = (0..len)
                .map(|_| ALPHABET[rng.usize(0..ALPHABET.len())] as char)
                .collect();
            let _ = parse_path(&s);
        }
    }

    #[test]
    fn decimals_print_canonically() {
        assert_eq!(format_decimal(90.0), "90");
        assert_eq!(format_decimal(22.5), "22.5");
        assert_eq!(format_decimal(0.1), "0.1");
    }
}
