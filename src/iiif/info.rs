//! The image information document, info.json (§5), built from plain data.

use serde_json::{Value, json};

use super::grammar::Format;
use super::plan::Limits;

/// The IIIF Image API 3.0 JSON-LD context.
pub const CONTEXT: &str = "http://iiif.io/api/image/3/context.json";
/// The profile document of the compliance level Tessera meets, for `Link: rel="profile"`.
pub const PROFILE_URI: &str = "http://iiif.io/api/image/3/level2.json";
/// The media type info.json is served as when the client asks for JSON-LD.
pub const JSON_LD_MEDIA_TYPE: &str =
    "application/ld+json;profile=\"http://iiif.io/api/image/3/context.json\"";

/// Every feature name of §5.3 — all of them work in Tessera.
pub const FEATURES: [&str; 17] = [
    "baseUriRedirect",
    "canonicalLinkHeader",
    "cors",
    "jsonldMediaType",
    "mirroring",
    "profileLinkHeader",
    "regionByPct",
    "regionByPx",
    "regionSquare",
    "rotationArbitrary",
    "rotationBy90s",
    "sizeByConfinedWh",
    "sizeByH",
    "sizeByPct",
    "sizeByW",
    "sizeByWh",
    "sizeUpscaling",
];

/// Qualities beyond level 2's `default`.
pub const EXTRA_QUALITIES: [&str; 3] = ["color", "gray", "bitonal"];

/// What info.json says about one image.
#[derive(Debug, Clone)]
pub struct InfoParams<'a> {
    /// The image's base URI: `{scheme}://{server}{/prefix}/{identifier}`.
    pub id: &'a str,
    pub width: u32,
    pub height: u32,
    pub limits: Limits,
    /// Tile width and height in pixels: the stored tiles of a tiled source, else the
    /// configured size.
    pub tile: (u32, u32),
    /// The sizes the source stores (a pyramid's levels), largest first; empty when it stores
    /// only its full size, and power-of-two reductions are listed instead.
    pub levels: &'a [(u32, u32)],
    /// Formats to list in `preferredFormats`, in order of preference.
    pub preferred_formats: &'a [Format],
    /// Smallest edge worth listing in `sizes`.
    pub min_size: u32,
}

/// The power-of-two reductions of a `w`×`h` image that the limits allow, smallest first: the
/// full size, then halves while the longer edge stays at least `min_size`.
pub fn sizes(w: u32, h: u32, min_size: u32, limits: &Limits) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut factor = 1u32;
    loop {
        let (sw, sh) = (w.div_ceil(factor), h.div_ceil(factor));
        if factor > 1 && sw.max(sh) < min_size {
            break;
        }
        if limits.allows(sw, sh) {
            out.push((sw, sh));
        }
        if (sw == 1 && sh == 1) || factor >= 1 << 30 {
            break;
        }
        factor *= 2;
    }
    out.reverse();
    out
}

/// Scale factors 1, 2, 4, … until one tile covers the whole image.
pub fn scale_factors(w: u32, h: u32, tile: u32) -> Vec<u32> {
    let mut out = vec![1u32];
    let mut f = 1u32;
    while w.max(h).div_ceil(f) > tile && f < 1 << 30 {
        f *= 2;
        out.push(f);
    }
    out
}

/// A pyramid's levels as `sizes`, smallest first: those the limits allow, and none smaller than
/// `min_size` unless nothing else is left.
pub fn level_sizes(levels: &[(u32, u32)], min_size: u32, limits: &Limits) -> Vec<(u32, u32)> {
    let allowed: Vec<(u32, u32)> = levels
        .iter()
        .copied()
        .filter(|&(w, h)| limits.allows(w, h))
        .collect();
    let mut out: Vec<(u32, u32)> = allowed
        .iter()
        .copied()
        .filter(|&(w, h)| w.max(h) >= min_size)
        .collect();
    if out.is_empty() {
        out.extend(allowed.first());
    }
    out.reverse();
    out
}

/// A pyramid's scale factors: each level's reduction of width `w`, as a power of two.
pub fn level_scale_factors(w: u32, levels: &[(u32, u32)]) -> Vec<u32> {
    let mut out: Vec<u32> = levels
        .iter()
        .filter(|l| l.0 > 0)
        .map(|&(lw, _)| {
            let ratio = w as f64 / lw as f64;
            1u32 << (ratio.log2().round().clamp(0.0, 30.0) as u32)
        })
        .collect();
    out.dedup();
    out
}

/// Builds the info.json document.
pub fn info_json(p: &InfoParams) -> Value {
    let tile_edge = p.tile.0.max(p.tile.1);
    let (sizes, factors) = if p.levels.is_empty() {
        (
            sizes(p.width, p.height, p.min_size, &p.limits),
            scale_factors(p.width, p.height, tile_edge),
        )
    } else {
        // Then further doublings until one tile covers the image: viewers ask for those too,
        // and they are rendered from the smallest level.
        let mut f = level_scale_factors(p.width, p.levels);
        let last = *f.last().unwrap_or(&1);
        f.extend(
            scale_factors(p.width, p.height, tile_edge)
                .into_iter()
                .filter(|&s| s > last),
        );
        (level_sizes(p.levels, p.min_size, &p.limits), f)
    };
    let sizes: Vec<Value> = sizes
        .into_iter()
        .map(|(w, h)| json!({"width": w, "height": h}))
        .collect();
    let mut info = json!({
        "@context": CONTEXT,
        "id": p.id,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level2",
        "width": p.width,
        "height": p.height,
        "sizes": sizes,
        "tiles": [{
            "width": p.tile.0,
            "height": p.tile.1,
            "scaleFactors": factors,
        }],
        "preferredFormats": p.preferred_formats.iter().map(|f| f.extension()).collect::<Vec<_>>(),
        "extraFormats": Format::ALL
            .iter()
            .filter(|f| !matches!(f, Format::Jpg | Format::Png))
            .map(|f| f.extension())
            .collect::<Vec<_>>(),
        "extraQualities": EXTRA_QUALITIES,
        "extraFeatures": FEATURES,
    });
    let obj = info.as_object_mut().expect("info.json is an object");
    if let Some(m) = p.limits.max_width {
        obj.insert("maxWidth".into(), m.into());
    }
    if let Some(m) = p.limits.max_height {
        obj.insert("maxHeight".into(), m.into());
    }
    if let Some(m) = p.limits.max_area {
        obj.insert("maxArea".into(), m.into());
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_power_of_two_reductions() {
        let none = Limits::default();
        assert_eq!(
            sizes(1000, 600, 64, &none),
            vec![(125, 75), (250, 150), (500, 300), (1000, 600)]
        );
        assert_eq!(sizes(50, 40, 64, &none), vec![(50, 40)]);
        let capped = Limits {
            max_width: Some(600),
            ..none
        };
        assert_eq!(sizes(1000, 600, 200, &capped), vec![(250, 150), (500, 300)]);
    }

    #[test]
    fn scale_factors_reach_one_tile() {
        assert_eq!(scale_factors(1000, 1000, 512), vec![1, 2]);
        assert_eq!(scale_factors(512, 100, 512), vec![1]);
        assert_eq!(scale_factors(6000, 4000, 512), vec![1, 2, 4, 8, 16]);
    }

    #[test]
    fn document_has_required_properties() {
        let info = info_json(&InfoParams {
            id: "http://x/iiif/3/a",
            width: 1000,
            height: 800,
            limits: Limits {
                max_width: None,
                max_height: None,
                max_area: Some(1_000_000),
            },
            tile: (512, 512),
            levels: &[],
            preferred_formats: &[Format::Webp, Format::Jpg],
            min_size: 64,
        });
        assert_eq!(info["@context"], CONTEXT);
        assert_eq!(info["type"], "ImageService3");
        assert_eq!(info["profile"], "level2");
        assert_eq!(info["width"], 1000);
        assert_eq!(info["maxArea"], 1_000_000);
        assert!(info.get("maxWidth").is_none());
        assert_eq!(info["extraFeatures"].as_array().unwrap().len(), 17);
        assert_eq!(info["extraFormats"], json!(["webp", "gif", "tif", "pdf"]));
        assert_eq!(info["preferredFormats"], json!(["webp", "jpg"]));
        assert_eq!(info["tiles"][0]["scaleFactors"], json!([1, 2]));
    }

    #[test]
    fn a_pyramid_lists_its_own_levels_and_tiles() {
        let levels = [(6001, 4001), (3000, 2000), (1500, 1000), (750, 500)];
        let info = info_json(&InfoParams {
            id: "http://x/iiif/3/p",
            width: 6001,
            height: 4001,
            limits: Limits::default(),
            tile: (256, 128),
            levels: &levels,
            preferred_formats: &[Format::Jpg],
            min_size: 64,
        });
        assert_eq!(
            info["sizes"],
            json!([
                {"width": 750, "height": 500},
                {"width": 1500, "height": 1000},
                {"width": 3000, "height": 2000},
                {"width": 6001, "height": 4001}
            ])
        );
        assert_eq!(info["tiles"][0]["width"], 256);
        assert_eq!(info["tiles"][0]["height"], 128);
        // Levels give 1–8; 16 and 32 follow until one 256 tile covers the image.
        assert_eq!(
            info["tiles"][0]["scaleFactors"],
            json!([1, 2, 4, 8, 16, 32])
        );
        let capped = Limits {
            max_width: Some(2000),
            ..Limits::default()
        };
        assert_eq!(
            level_sizes(&levels, 64, &capped),
            vec![(750, 500), (1500, 1000)]
        );
        assert_eq!(level_sizes(&levels, 5000, &capped), vec![(1500, 1000)]);
    }
}
