//! The fonts text layers are set in: Noto Sans, Noto Sans Arabic and Noto Sans Hebrew, regular
//! and bold, shipped in the repository's `fonts/` under the SIL Open Font License and compiled
//! into the binary, so a render never depends on what the host has installed. More families
//! can be loaded from `template.fonts_dir`.
//!
//! A character none of the fonts has is never drawn as a tofu box: [`Coverage`] tells the
//! field resolver, which then prints the field's default instead.

use std::path::Path;
use std::sync::Arc;

use cosmic_text::{FontSystem, fontdb};

/// The fonts compiled into the binary.
const EMBEDDED: [&[u8]; 6] = [
    include_bytes!("../../fonts/NotoSans-Regular.ttf"),
    include_bytes!("../../fonts/NotoSans-Bold.ttf"),
    include_bytes!("../../fonts/NotoSansArabic-Regular.ttf"),
    include_bytes!("../../fonts/NotoSansArabic-Bold.ttf"),
    include_bytes!("../../fonts/NotoSansHebrew-Regular.ttf"),
    include_bytes!("../../fonts/NotoSansHebrew-Bold.ttf"),
];

/// The family used for generic `sans-serif` and as the first fallback.
pub const DEFAULT_FAMILY: &str = "Noto Sans";

/// A font database: the embedded fonts plus any from `extra_dir`. Cheap to clone (the font
/// data is shared), so each render thread builds its [`FontSystem`] from one.
#[derive(Clone)]
pub struct Fonts {
    db: Arc<fontdb::Database>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts")
            .field("families", &self.families())
            .finish()
    }
}

impl Fonts {
    /// The embedded fonts, and every font file in `extra_dir` when given.
    pub fn load(extra_dir: Option<&Path>) -> std::io::Result<Fonts> {
        let mut db = fontdb::Database::new();
        for data in EMBEDDED {
            db.load_font_source(fontdb::Source::Binary(Arc::new(data)));
        }
        if let Some(dir) = extra_dir {
            if !dir.is_dir() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("font folder {} does not exist", dir.display()),
                ));
            }
            db.load_fonts_dir(dir);
        }
        db.set_sans_serif_family(DEFAULT_FAMILY);
        Ok(Fonts { db: Arc::new(db) })
    }

    /// Identifies this database (clones share it), so a thread's shaper knows when to rebuild.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.db) as usize
    }

    /// The family names a template may ask for, sorted.
    pub fn families(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .db
            .faces()
            .filter_map(|f| f.families.first().map(|(name, _)| name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// A shaping context over these fonts (one per thread: it caches and is not `Sync`).
    pub fn system(&self) -> FontSystem {
        FontSystem::new_with_locale_and_db("en-US".into(), (*self.db).clone())
    }

    /// Which characters the fonts can draw.
    pub fn coverage(&self) -> Coverage {
        let mut system = self.system();
        let ids: Vec<_> = self.db.faces().map(|f| f.id).collect();
        let mut points = Vec::new();
        for id in ids {
            if let Some(font) = system.get_font(id, fontdb::Weight::NORMAL) {
                font.as_swash().charmap().enumerate(|c, glyph| {
                    if glyph != 0 {
                        points.push(c);
                    }
                });
            }
        }
        points.sort_unstable();
        points.dedup();
        Coverage { points }
    }
}

/// The union of the fonts' character maps.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    points: Vec<u32>,
}

impl Coverage {
    /// Whether every visible character of `text` has a glyph in some font. Whitespace and
    /// invisible formatting characters (joiners, direction marks, variation selectors) are
    /// left to the shaper.
    pub fn covers(&self, text: &str) -> bool {
        text.chars()
            .all(|c| c.is_whitespace() || is_format(c) || self.has(c))
    }

    fn has(&self, c: char) -> bool {
        self.points.binary_search(&(c as u32)).is_ok()
    }
}

/// Unicode format characters a font need not map: zero-width (non-)joiners and spaces,
/// direction marks and embeddings, word joiner, variation selectors, BOM.
fn is_format(c: char) -> bool {
    matches!(c as u32,
        0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069
        | 0xFE00..=0xFE0F | 0xFEFF | 0xE0100..=0xE01EF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_families_and_coverage() {
        let fonts = Fonts::load(None).unwrap();
        assert_eq!(
            fonts.families(),
            ["Noto Sans", "Noto Sans Arabic", "Noto Sans Hebrew"]
        );
        let c = fonts.coverage();
        assert!(c.covers("Zoë Ångström-Łukasz, naïve café"));
        assert!(c.covers("محمد بن سلمان"));
        assert!(c.covers("שָׁלוֹם"), "Hebrew with points (combining marks)");
        assert!(
            c.covers("e\u{301}\u{200d}"),
            "combining acute, zero-width joiner"
        );
        assert!(!c.covers("李小龙"), "no CJK font is shipped");
        assert!(!c.covers("hi 🎉"), "no emoji font is shipped");
    }

    #[test]
    fn a_missing_font_folder_is_an_error() {
        assert!(Fonts::load(Some(Path::new("/nonexistent/fonts"))).is_err());
    }
}
