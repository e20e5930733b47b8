//! The plan: a pure function from a parsed request, the source's (oriented) size and the
//! server's limits to the concrete work — crop rectangle, output size, mirroring, rotation,
//! quality and format — plus its canonical form (§4.7), which is also the derivative cache key.
//!
//! Nothing here touches pixels; every rule of §4.1–§4.3 about sizes and errors lives here and
//! is unit-tested without a server or a codec.

use super::grammar::{Format, ImageRequest, Quality, Region, SizeKind, format_decimal};
use crate::error::{Code, Coded};

/// Server-imposed output limits, advertised in info.json as `maxWidth`, `maxHeight`, `maxArea`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
    pub max_area: Option<u64>,
}

impl Limits {
    /// The largest size, not larger than `w`×`h`, that these limits allow for an image of that
    /// aspect ratio (the meaning of `max`, §4.2). Rounds down so every limit holds.
    pub fn max_size(&self, w: u32, h: u32) -> (u32, u32) {
        let mut scale: f64 = 1.0;
        if let Some(mw) = self.max_width {
            scale = scale.min(mw as f64 / w as f64);
        }
        if let Some(mh) = self.max_height {
            scale = scale.min(mh as f64 / h as f64);
        }
        if let Some(ma) = self.max_area {
            scale = scale.min((ma as f64 / (w as f64 * h as f64)).sqrt());
        }
        if scale >= 1.0 {
            return (w, h);
        }
        let fit = |v: u32| ((v as f64 * scale + 1e-9).floor() as u32).max(1);
        (fit(w), fit(h))
    }

    /// Whether an output of `w`×`h` stays within every limit.
    pub fn allows(&self, w: u32, h: u32) -> bool {
        self.max_width.is_none_or(|m| w <= m)
            && self.max_height.is_none_or(|m| h <= m)
            && self.max_area.is_none_or(|m| w as u64 * h as u64 <= m)
    }
}

/// A rectangle in source pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// Why a syntactically valid request cannot be served for this image (400 Bad Request).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("region {0} lies outside the {1}x{2} image")]
    RegionOutside(String, u32, u32),
    #[error("region {0} has zero width or height")]
    RegionEmpty(String),
    #[error("size {0} gives an image with zero width or height")]
    SizeZero(String),
    #[error("size {size} is larger than the {w}x{h} region; prefix it with ^ to upscale")]
    UpscaleWithoutCaret { size: String, w: u32, h: u32 },
    #[error(
        "size {size} ({w}x{h}) exceeds this server's limits (maxWidth/maxHeight/maxArea in info.json)"
    )]
    ExceedsLimits { size: String, w: u32, h: u32 },
    #[error("a {w}x{h} image is larger than {format} can store ({max} px per side)")]
    ExceedsFormat {
        format: &'static str,
        w: u32,
        h: u32,
        max: u32,
    },
}

/// The concrete work for one image request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Oriented size of the source image.
    pub source: (u32, u32),
    /// The region to extract, clipped to the image.
    pub crop: Rect,
    /// The size the region is scaled to, before rotation.
    pub scaled: (u32, u32),
    /// Mirror about the vertical axis before rotating.
    pub mirror: bool,
    /// Clockwise degrees in [0, 360).
    pub degrees: f64,
    /// [`Quality::Default`] stands for both `default` and `color`: the source's own colours.
    pub quality: Quality,
    pub format: Format,
    /// Whether the output is the `max` size of the region: the canonical size is then `max`.
    pub is_max: bool,
    /// Which of the source's stored resolutions to read: see [`Plan::with_resolution`].
    pub read: Read,
}

/// The resolution a plan reads the source at: one of the sizes the source can be read at
/// directly (a JPEG's DCT scalings, a pyramid's levels), largest first. Index 0 is the full
/// size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// Index into the source's resolutions.
    pub resolution: usize,
    /// The whole size at that resolution.
    pub size: (u32, u32),
    /// Whether a window of it can be read on its own (tiles); else it is decoded whole.
    pub tiled: bool,
}

/// Resolves the region parameter against an image of `w`×`h` (§4.1).
pub fn resolve_region(region: Region, w: u32, h: u32) -> Result<Rect, PlanError> {
    let (x, y, rw, rh) = match region {
        Region::Full => (0, 0, w, h),
        Region::Square => {
            let side = w.min(h);
            ((w - side) / 2, (h - side) / 2, side, side)
        }
        Region::Pixels { x, y, w, h } => (x, y, w, h),
        Region::Percent {
            x: px,
            y: py,
            w: pw,
            h: ph,
        } => {
            let of = |pct: f64, total: u32| {
                (pct * total as f64 / 100.0).round().min(u32::MAX as f64) as u32
            };
            (of(px, w), of(py, h), of(pw, w), of(ph, h))
        }
    };
    if rw == 0 || rh == 0 {
        return Err(PlanError::RegionEmpty(region.to_string()));
    }
    if x >= w || y >= h {
        return Err(PlanError::RegionOutside(region.to_string(), w, h));
    }
    Ok(Rect {
        x,
        y,
        w: rw.min(w - x),
        h: rh.min(h - y),
    })
}

/// Scales `v` by `num/den`, rounded to the nearest pixel and never below 1.
fn scale(v: u32, num: u32, den: u32) -> u32 {
    ((v as f64 * num as f64 / den as f64).round() as u32).max(1)
}

/// Plans `req` for a source of `width`×`height` (already oriented) under `limits`.
pub fn plan(
    req: &ImageRequest,
    width: u32,
    height: u32,
    limits: &Limits,
) -> Result<Plan, PlanError> {
    let crop = resolve_region(req.region, width, height)?;
    let (rw, rh) = (crop.w, crop.h);
    let size_text = || req.size.to_string();
    let (w, h) = match req.size.kind {
        // `^max` means the same as `max` here: see conformance/README.md for why.
        SizeKind::Max => limits.max_size(rw, rh),
        SizeKind::Width(w) => (w, scale(rh, w, rw)),
        SizeKind::Height(h) => (scale(rw, h, rh), h),
        SizeKind::Percent(n) => {
            let of = |v: u32| (v as f64 * n / 100.0).round().min(u32::MAX as f64) as u32;
            (of(rw), of(rh))
        }
        SizeKind::Exact(w, h) => (w, h),
        SizeKind::Confined(cw, ch) => {
            if cw == 0 || ch == 0 {
                (0, 0)
            } else if cw as u64 * rh as u64 <= ch as u64 * rw as u64 {
                // The width is the tighter bound.
                (cw, scale(rh, cw, rw).min(ch))
            } else {
                (scale(rw, ch, rh).min(cw), ch)
            }
        }
    };
    if w == 0 || h == 0 {
        return Err(PlanError::SizeZero(size_text()));
    }
    if !req.size.upscale && (w > rw || h > rh) {
        return Err(PlanError::UpscaleWithoutCaret {
            size: size_text(),
            w: rw,
            h: rh,
        });
    }
    if !limits.allows(w, h) {
        return Err(PlanError::ExceedsLimits {
            size: size_text(),
            w,
            h,
        });
    }
    let degrees = req.rotation.degrees % 360.0;
    let (ow, oh) = rotated_size(w, h, degrees);
    let max = req.format.max_dimension();
    if ow > max || oh > max {
        return Err(PlanError::ExceedsFormat {
            format: req.format.extension(),
            w: ow,
            h: oh,
            max,
        });
    }
    let quality = match req.quality {
        Quality::Color => Quality::Default,
        q => q,
    };
    Ok(Plan {
        source: (width, height),
        crop,
        scaled: (w, h),
        mirror: req.rotation.mirror,
        degrees,
        quality,
        format: req.format,
        is_max: (w, h) == limits.max_size(rw, rh),
        read: Read {
            resolution: 0,
            size: (width, height),
            tiled: false,
        },
    })
}

/// The bounding box of a `w`×`h` image rotated by `degrees` (§4.3): exact for multiples of
/// 90°, otherwise rounded to the nearest pixel.
pub fn rotated_size(w: u32, h: u32, degrees: f64) -> (u32, u32) {
    if is_right_angle(degrees) {
        return if (degrees / 90.0) as u32 % 2 == 1 {
            (h, w)
        } else {
            (w, h)
        };
    }
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (sin, cos) = (sin.abs(), cos.abs());
    let bw = w as f64 * cos + h as f64 * sin;
    let bh = w as f64 * sin + h as f64 * cos;
    (
        (bw - 1e-6).round().max(1.0) as u32,
        (bh - 1e-6).round().max(1.0) as u32,
    )
}

/// Whether a rotation is a multiple of 90°, which is done by exact pixel moves.
pub fn is_right_angle(degrees: f64) -> bool {
    degrees % 90.0 == 0.0
}

impl Plan {
    /// Chooses the cheapest resolution to read from `resolutions` (largest first, the first
    /// being the full size): the smallest whose part under the region still has the output's
    /// pixels in both directions (to within one), so resizing does not enlarge. `tiled` says whether
    /// a window of a resolution can be read without the rest. Does not change the canonical
    /// form.
    pub fn with_resolution(mut self, resolutions: &[(u32, u32)], tiled: bool) -> Plan {
        let (sw, sh) = (self.source.0 as f64, self.source.1 as f64);
        // Within a pixel counts as covering: pyramid writers round level sizes down, and a
        // tile at scale factor 4 should still come from the quarter-size level.
        let covers = |&(rw, rh): &(u32, u32)| {
            self.crop.w as f64 * rw as f64 / sw >= self.scaled.0 as f64 - 1.0
                && self.crop.h as f64 * rh as f64 / sh >= self.scaled.1 as f64 - 1.0
        };
        let resolution = resolutions.iter().rposition(covers).unwrap_or(0);
        self.read = Read {
            resolution,
            size: resolutions.get(resolution).copied().unwrap_or(self.source),
            tiled,
        };
        self
    }

    /// The region in the chosen resolution's pixels, widened to whole pixels and clipped.
    pub fn read_window(&self) -> Rect {
        let (rw, rh) = self.read.size;
        let (sw, sh) = self.source;
        let lo = |v: u32, r: u32, s: u32| (v as u64 * r as u64 / s as u64) as u32;
        let hi = |v: u32, r: u32, s: u32| (v as u64 * r as u64).div_ceil(s as u64) as u32;
        let c = self.crop;
        let (x0, y0) = (lo(c.x, rw, sw), lo(c.y, rh, sh));
        let x1 = hi(c.x + c.w, rw, sw).clamp(x0 + 1, rw.max(x0 + 1));
        let y1 = hi(c.y + c.h, rh, sh).clamp(y0 + 1, rh.max(y0 + 1));
        Rect {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        }
    }

    /// Pixels decoded to serve this plan: the window when the resolution is tiled, the whole
    /// resolution otherwise.
    pub fn decoded_pixels(&self) -> u64 {
        if self.read.tiled {
            let w = self.read_window();
            w.w as u64 * w.h as u64
        } else {
            self.read.size.0 as u64 * self.read.size.1 as u64
        }
    }

    /// When the output is exactly the stored pixels of a window of the chosen tiled
    /// resolution — the region maps onto whole pixels of it without rounding, nothing is
    /// scaled, rotated, mirrored or recoloured, and the format is JPEG — that window: stored
    /// JPEG tiles can then be handed out or joined as they are (see [`crate::jpeg`]).
    pub fn stored_window(&self) -> Option<Rect> {
        if !self.read.tiled
            || self.degrees != 0.0
            || self.mirror
            || self.quality != Quality::Default
            || self.format != Format::Jpg
        {
            return None;
        }
        let win = self.read_window();
        let (rw, rh) = self.read.size;
        let (sw, sh) = self.source;
        let c = self.crop;
        let exact = |v: u32, r: u32, s: u32, at: u32| v as u64 * r as u64 == at as u64 * s as u64;
        let maps = exact(c.x, rw, sw, win.x)
            && exact(c.x + c.w, rw, sw, win.x + win.w)
            && exact(c.y, rh, sh, win.y)
            && exact(c.y + c.h, rh, sh, win.y + win.h);
        (maps && self.scaled == (win.w, win.h)).then_some(win)
    }

    /// The size of the delivered image, after rotation.
    pub fn output_size(&self) -> (u32, u32) {
        rotated_size(self.scaled.0, self.scaled.1, self.degrees)
    }

    /// Whether the region is the whole image.
    pub fn is_full_region(&self) -> bool {
        self.crop
            == (Rect {
                x: 0,
                y: 0,
                w: self.source.0,
                h: self.source.1,
            })
    }

    /// The canonical `region/size/rotation/quality.format` (§4.7). Equivalent requests —
    /// `pct:` and pixel regions, `w,` and `w,h` sizes that resolve alike — share it, so it
    /// is also the cache key of the rendered derivative.
    pub fn canonical(&self) -> String {
        let region = if self.is_full_region() {
            "full".to_string()
        } else {
            let Rect { x, y, w, h } = self.crop;
            format!("{x},{y},{w},{h}")
        };
        let (w, h) = self.scaled;
        let size = if self.is_max {
            "max".to_string()
        } else if w > self.crop.w || h > self.crop.h {
            format!("^{w},{h}")
        } else {
            format!("{w},{h}")
        };
        let mirror = if self.mirror { "!" } else { "" };
        format!(
            "{region}/{size}/{mirror}{}/{}.{}",
            format_decimal(self.degrees),
            self.quality,
            self.format
        )
    }
}

impl Coded for PlanError {
    fn code(&self) -> Code {
        match self {
            PlanError::RegionOutside(..) | PlanError::RegionEmpty(_) => Code::BadRegion,
            PlanError::SizeZero(_) | PlanError::UpscaleWithoutCaret { .. } => Code::BadSize,
            PlanError::ExceedsLimits { .. } | PlanError::ExceedsFormat { .. } => Code::TooLarge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_LIMITS: Limits = Limits {
        max_width: None,
        max_height: None,
        max_area: None,
    };

    fn p(url: &str, w: u32, h: u32, limits: &Limits) -> Result<Plan, PlanError> {
        let s: Vec<&str> = url.split('/').collect();
        let req = ImageRequest::parse(s[0], s[1], s[2], s[3]).unwrap();
        plan(&req, w, h, limits)
    }

    fn ok(url: &str, w: u32, h: u32) -> Plan {
        p(url, w, h, &NO_LIMITS).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    /// The region examples of §4.1 on the spec's 300×200 sample image.
    #[test]
    fn spec_region_examples() {
        let r = |url| {
            let pl = ok(url, 300, 200);
            (pl.crop.x, pl.crop.y, pl.crop.w, pl.crop.h)
        };
        assert_eq!(r("full/max/0/default.jpg"), (0, 0, 300, 200));
        assert_eq!(r("square/max/0/default.jpg"), (50, 0, 200, 200));
        assert_eq!(r("125,15,120,140/max/0/default.jpg"), (125, 15, 120, 140));
        assert_eq!(
            r("pct:41.6,7.5,40,70/max/0/default.jpg"),
            (125, 15, 120, 140)
        );
        // Cropped at the image edge.
        assert_eq!(r("125,15,200,200/max/0/default.jpg"), (125, 15, 175, 185));
        assert_eq!(
            r("pct:41.6,7.5,66.6,100/max/0/default.jpg"),
            (125, 15, 175, 185)
        );
    }

    #[test]
    fn region_errors() {
        for url in [
            "300,0,10,10/max/0/default.jpg",
            "0,200,10,10/max/0/default.jpg",
            "pct:100,0,10,10/max/0/default.jpg",
        ] {
            assert!(
                matches!(
                    p(url, 300, 200, &NO_LIMITS),
                    Err(PlanError::RegionOutside(..))
                ),
                "{url}"
            );
        }
        for url in [
            "0,0,0,10/max/0/default.jpg",
            "pct:0,0,0.1,10/max/0/default.jpg",
        ] {
            assert!(
                matches!(
                    p(url, 300, 200, &NO_LIMITS),
                    Err(PlanError::RegionEmpty(..))
                ),
                "{url}"
            );
        }
    }

    /// Every size form of §4.2 on a 300×200 image.
    #[test]
    fn size_forms() {
        let s = |url| ok(url, 300, 200).scaled;
        assert_eq!(s("full/max/0/default.jpg"), (300, 200));
        assert_eq!(s("full/^max/0/default.jpg"), (300, 200));
        assert_eq!(s("full/150,/0/default.jpg"), (150, 100));
        assert_eq!(s("full/^360,/0/default.jpg"), (360, 240));
        assert_eq!(s("full/,150/0/default.jpg"), (225, 150));
        assert_eq!(s("full/^,240/0/default.jpg"), (360, 240));
        assert_eq!(s("full/pct:50/0/default.jpg"), (150, 100));
        assert_eq!(s("full/^pct:120/0/default.jpg"), (360, 240));
        assert_eq!(s("full/225,100/0/default.jpg"), (225, 100));
        assert_eq!(s("full/^360,360/0/default.jpg"), (360, 360));
        assert_eq!(s("full/!225,100/0/default.jpg"), (150, 100));
        assert_eq!(s("full/!100,225/0/default.jpg"), (100, 67));
        assert_eq!(s("full/^!360,360/0/default.jpg"), (360, 240));
        assert_eq!(s("0,0,100,100/50,/0/default.jpg"), (50, 50));
        // Never below one pixel.
        assert_eq!(s("full/1,/0/default.jpg"), (1, 1));
    }

    #[test]
    fn upscaling_needs_caret() {
        for url in [
            "full/301,/0/default.jpg",
            "full/,201/0/default.jpg",
            "full/pct:101/0/default.jpg",
            "full/301,200/0/default.jpg",
            "full/300,201/0/default.jpg",
            // The validators require this to fail too: the box fits a larger-than-region size.
            "full/!2000,3000/0/default.jpg",
        ] {
            assert!(
                matches!(
                    p(url, 300, 200, &NO_LIMITS),
                    Err(PlanError::UpscaleWithoutCaret { .. })
                ),
                "{url}"
            );
        }
        assert_eq!(
            ok("full/^!2000,500/0/default.jpg", 1000, 1000).scaled,
            (500, 500)
        );
        assert_eq!(
            ok("full/^!2000,3000/0/default.jpg", 1000, 1000).scaled,
            (2000, 2000)
        );
    }

    #[test]
    fn zero_sizes_are_errors() {
        for url in [
            "full/0,/0/default.jpg",
            "full/,0/0/default.jpg",
            "full/pct:0/0/default.jpg",
            "full/0,10/0/default.jpg",
            "full/!0,10/0/default.jpg",
        ] {
            assert!(
                matches!(p(url, 300, 200, &NO_LIMITS), Err(PlanError::SizeZero(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn limits_clamp_max_and_refuse_larger_sizes() {
        let limits = Limits {
            max_width: Some(200),
            max_height: Some(150),
            max_area: None,
        };
        let pl = p("full/max/0/default.jpg", 300, 200, &limits).unwrap();
        assert_eq!(pl.scaled, (200, 133));
        assert!(pl.is_max);
        assert_eq!(
            p("full/^max/0/default.jpg", 300, 200, &limits)
                .unwrap()
                .scaled,
            (200, 133)
        );
        assert!(matches!(
            p("full/250,/0/default.jpg", 300, 200, &limits),
            Err(PlanError::ExceedsLimits { .. })
        ));
        let area = Limits {
            max_area: Some(10_000),
            ..NO_LIMITS
        };
        let (w, h) = p("full/max/0/default.jpg", 300, 200, &area).unwrap().scaled;
        assert!(w as u64 * h as u64 <= 10_000 && w >= 120, "{w}x{h}");
        assert_eq!(area.max_size(50, 50), (50, 50));
    }

    #[test]
    fn outputs_must_fit_the_format() {
        assert!(matches!(
            p("full/^17000,/0/default.webp", 300, 200, &NO_LIMITS),
            Err(PlanError::ExceedsFormat { max: 16_383, .. })
        ));
        assert!(p("full/^17000,/0/default.png", 300, 200, &NO_LIMITS).is_ok());
        // The rotated bounding box counts.
        assert!(p("full/^16000,/45/default.webp", 300, 200, &NO_LIMITS).is_err());
    }

    #[test]
    fn rotation_and_output_size() {
        let pl = ok("full/max/!90/default.jpg", 300, 200);
        assert!(pl.mirror);
        assert_eq!(pl.output_size(), (200, 300));
        assert_eq!(ok("full/max/360/default.jpg", 300, 200).degrees, 0.0);
        assert_eq!(
            ok("full/max/180/default.jpg", 300, 200).output_size(),
            (300, 200)
        );
        assert_eq!(rotated_size(100, 100, 45.0), (141, 141));
        assert_eq!(rotated_size(300, 200, 30.0), (360, 323));
    }

    #[test]
    fn canonical_forms() {
        let c = |url| ok(url, 300, 200).canonical();
        assert_eq!(c("full/max/0/default.jpg"), "full/max/0/default.jpg");
        assert_eq!(c("0,0,300,200/max/0/color.jpg"), "full/max/0/default.jpg");
        assert_eq!(
            c("pct:0,0,100,100/300,/360/default.png"),
            "full/max/0/default.png"
        );
        assert_eq!(c("square/max/0/gray.jpg"), "50,0,200,200/max/0/gray.jpg");
        assert_eq!(
            c("full/150,/!22.50/bitonal.webp"),
            "full/150,100/!22.5/bitonal.webp"
        );
        assert_eq!(
            c("full/pct:50/0/default.jpg"),
            c("full/150,100/0/default.jpg")
        );
        assert_eq!(
            c("pct:41.6,7.5,40,70/60,/90/default.jpg"),
            "125,15,120,140/60,70/90/default.jpg"
        );
        assert_eq!(c("full/^600,/0/default.jpg"), "full/^600,400/0/default.jpg");
    }

    /// Property: for random requests on random image sizes, a plan either fails cleanly or
    /// stays inside the image and the limits, and its canonical form plans to the same work.
    #[test]
    fn random_plans_are_sound() {
        let mut rng = fastrand::Rng::with_seed(5);
        let limits = Limits {
            max_width: Some(5000),
            max_height: None,
            max_area: Some(10_000_000),
        };
        let mut planned = 0;
        for _ in 0..20_000 {
            let req = crate::iiif::grammar::tests::random_request(&mut rng);
            let (w, h) = (rng.u32(1..5000), rng.u32(1..5000));
            let Ok(pl) = plan(&req, w, h, &limits) else {
                continue;
            };
            planned += 1;
            let c = pl.crop;
            assert!(
                c.w > 0 && c.h > 0 && c.x + c.w <= w && c.y + c.h <= h,
                "{req} on {w}x{h}"
            );
            assert!(pl.scaled.0 > 0 && pl.scaled.1 > 0 && limits.allows(pl.scaled.0, pl.scaled.1));
            assert!((0.0..360.0).contains(&pl.degrees));
            let canonical = pl.canonical();
            let s: Vec<&str> = canonical.split('/').collect();
            let again = plan(
                &ImageRequest::parse(s[0], s[1], s[2], s[3]).unwrap(),
                w,
                h,
                &limits,
            )
            .unwrap_or_else(|e| panic!("{req} → {canonical}: {e}"));
            assert_eq!(
                (again.crop, again.scaled),
                (pl.crop, pl.scaled),
                "{req} → {canonical}"
            );
            assert_eq!(again.canonical(), canonical);
        }
        assert!(planned > 2_000, "only {planned} random requests planned");
    }

    /// A JPEG's DCT scalings of a 6000×4000 source: full, 1/2, 1/4, 1/8.
    const DCT: [(u32, u32); 4] = [(6000, 4000), (3000, 2000), (1500, 1000), (750, 500)];

    #[test]
    fn the_cheapest_resolution_that_still_covers_the_output_is_read() {
        let d = |url: &str, res: &[(u32, u32)]| {
            ok(url, 6000, 4000)
                .with_resolution(res, false)
                .read
                .resolution
        };
        assert_eq!(d("full/!256,256/0/default.jpg", &DCT), 3); // 750x500 >= 256x171
        assert_eq!(d("full/!256,256/0/default.jpg", &DCT[..1]), 0); // no reductions
        assert_eq!(d("full/!1000,1000/0/default.jpg", &DCT), 2); // 1500x1000 >= 1000x667
        assert_eq!(d("full/1500,/0/default.jpg", &DCT), 2); // exactly 1/4
        assert_eq!(d("full/1501,/0/default.jpg", &DCT), 2); // one pixel short still counts
        assert_eq!(d("full/1502,/0/default.jpg", &DCT), 1);
        assert_eq!(d("0,0,512,512/512,/0/default.jpg", &DCT), 0); // a full-resolution tile
        assert_eq!(d("0,0,2048,2048/512,/0/default.jpg", &DCT), 2); // a tile at scale factor 4
        assert_eq!(d("full/^7000,/0/default.jpg", &DCT), 0); // upscaling
        // The choice does not change the canonical form (the cache key).
        let p = ok("full/!256,256/0/default.jpg", 6000, 4000);
        assert_eq!(p.canonical(), p.with_resolution(&DCT, false).canonical());
    }

    #[test]
    fn pyramid_levels_are_chosen_by_their_real_sizes() {
        // vips rounds level sizes down: 6001x4001 → 3000x2000 → 1500x1000 → …
        let levels = [
            (6001, 4001),
            (3000, 2000),
            (1500, 1000),
            (750, 500),
            (375, 250),
        ];
        let p = |url: &str| ok(url, 6001, 4001).with_resolution(&levels, true);
        let thumb = p("full/!256,256/0/default.jpg");
        assert_eq!((thumb.read.resolution, thumb.read.size), (4, (375, 250)));
        assert_eq!(
            thumb.read_window(),
            Rect {
                x: 0,
                y: 0,
                w: 375,
                h: 250
            }
        );
        // A tile at scale factor 4 reads about 512x512 pixels of level 2, not the image.
        let t = p("2048,2048,2048,1953/512,/0/default.jpg");
        assert_eq!(t.read.resolution, 2);
        let w = t.read_window();
        assert!(
            w.w <= 513 && w.h <= 489 && w.x == 511 && w.y == 511,
            "{w:?}"
        );
        assert_eq!(t.decoded_pixels(), w.w as u64 * w.h as u64);
        // Untiled resolutions are decoded whole.
        let flat = ok("0,0,512,512/512,/0/default.jpg", 6000, 4000).with_resolution(&DCT, false);
        assert_eq!(flat.decoded_pixels(), 6000 * 4000);
    }

    #[test]
    fn requests_for_stored_pixels_name_their_window() {
        let levels = [
            (6000, 4000),
            (3000, 2000),
            (1500, 1000),
            (750, 500),
            (375, 250),
        ];
        let window = |url: &str| {
            ok(url, 6000, 4000)
                .with_resolution(&levels, true)
                .stored_window()
                .map(|r| (r.x, r.y, r.w, r.h))
        };
        let stored = [
            ("512,1024,512,512/512,/0/default.jpg", (512, 1024, 512, 512)),
            ("0,0,512,512/max/0/default.jpg", (0, 0, 512, 512)),
            ("2048,0,2048,2048/512,/0/default.jpg", (512, 0, 512, 512)), // level 2
            ("512,1024,512,512/256,/0/default.jpg", (256, 512, 256, 256)), // level 1
            ("512,1024,512,512/512,/0/color.jpg", (512, 1024, 512, 512)),
            (
                "5632,3584,368,416/max/0/default.jpg",
                (5632, 3584, 368, 416),
            ), // an edge tile
            ("512,1024,511,512/511,/0/default.jpg", (512, 1024, 511, 512)),
            (
                "4096,2048,1904,1952/476,/0/default.jpg",
                (1024, 512, 476, 488),
            ), // level 2 edge
        ];
        for (url, w) in stored {
            assert_eq!(window(url), Some(w), "{url}");
        }
        // Anything that changes the pixels or the format is rendered.
        for url in [
            "512,1024,512,512/512,/0/default.png",
            "512,1024,512,512/512,/90/default.jpg",
            "512,1024,512,512/512,/!0/default.jpg",
            "512,1024,512,512/512,/0/gray.jpg",
            "512,1024,512,512/300,/0/default.jpg",
            "2048,0,2047,2048/512,/0/default.jpg",
        ] {
            assert_eq!(window(url), None, "{url}");
        }
        let untiled =
            ok("512,1024,512,512/512,/0/default.jpg", 6000, 4000).with_resolution(&levels, false);
        assert_eq!(untiled.stored_window(), None);
    }

    /// The canonical form is itself a valid request that plans to the same work.
    #[test]
    fn canonical_is_a_fixed_point() {
        for url in [
            "square/^!500,500/!45/gray.png",
            "pct:10,10,50,50/pct:33.3/270/bitonal.gif",
            "10,20,3000,3000/,90/0/color.tif",
            "full/!64,64/12.25/default.webp",
        ] {
            let first = ok(url, 640, 480);
            let again = ok(&first.canonical(), 640, 480);
            assert_eq!(first.crop, again.crop, "{url}");
            assert_eq!(first.scaled, again.scaled, "{url}");
            assert_eq!(first.canonical(), again.canonical(), "{url}");
        }
    }
}
