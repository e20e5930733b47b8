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
    /// Tile edge in pixels.
    pub tile_size: u32,
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

/// Builds the info.json document.
pub fn info_json(p: &InfoParams) -> Value {
    let sizes: Vec<Value> = sizes(p.width, p.height, p.min_size, &p.limits)
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
            "width": p.tile_size,
            "height": p.tile_size,
            "scaleFactors": scale_factors(p.width, p.height, p.tile_size),
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
            tile_size: 512,
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
        assert_eq!(info["extraFormats"], json!(["webp", "gif", "tif"]));
        assert_eq!(info["preferredFormats"], json!(["webp", "jpg"]));
        assert_eq!(info["tiles"][0]["scaleFactors"], json!([1, 2]));
    }
}
