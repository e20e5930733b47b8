//! The one recipe for derivative cache keys, and so for ETags: every part that decides a
//! derivative's bytes, named. IIIF images and personalized images differ only in their
//! [`Subject`].

use crate::cache::{CacheKey, digest};
use crate::iiif::Format;

/// What a derivative is made from.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// An image source (by content hash), read from the source itself or from its pyramid:
    /// the two give slightly different pixels, so they are different derivatives.
    Source {
        content_hash: &'a str,
        from_pyramid: bool,
    },
    /// A template version drawn with the field values personalization accepted (after
    /// fallbacks) and the pictures it chose (by content hash, so replacing a picture's file
    /// never serves an old render).
    Template {
        name: &'a str,
        content_hash: &'a str,
        fields: &'a str,
        pictures: &'a str,
        /// A draft preview (watermarked): never the same derivative as a published version
        /// with the same content, or coalescing could hand a watermark to a recipient.
        draft: bool,
        /// The data-set row the fields came from ([`row_tag`]): its renders are named after
        /// it, so changing or deleting the row removes exactly them.
        row: Option<&'a str>,
    },
}

/// One derivative: a subject, the canonical IIIF request applied to it, the output settings
/// (`RenderOptions::output_fingerprint`) and the format.
#[derive(Debug, Clone, Copy)]
pub struct Derivative<'a> {
    pub subject: Subject<'a>,
    pub canonical: &'a str,
    pub settings: &'a str,
    pub format: Format,
}

impl Derivative<'_> {
    /// The cache key: grouped by source content (or template), so one purge removes every
    /// derivative of an identifier.
    pub fn key(&self) -> CacheKey {
        let common = [self.canonical.as_bytes(), self.settings.as_bytes()];
        match self.subject {
            Subject::Source {
                content_hash,
                from_pyramid,
            } => {
                let from: &[u8] = if from_pyramid { b"pyramid" } else { b"source" };
                CacheKey::new(
                    content_hash,
                    &[common[0], common[1], from],
                    self.format.extension(),
                )
            }
            Subject::Template {
                name,
                content_hash,
                fields,
                pictures,
                draft,
                row,
            } => {
                let parts: &[&[u8]] = &[
                    common[0],
                    common[1],
                    content_hash.as_bytes(),
                    fields.as_bytes(),
                    pictures.as_bytes(),
                    b"draft",
                ];
                // Published keys are as they always were (URLs already sent keep their
                // cached renders); drafts add a part.
                let parts = if draft { parts } else { &parts[..5] };
                let mut key = CacheKey::new(&template_group(name), parts, self.format.extension());
                if let Some(row) = row {
                    key.variant = format!("{row}-{}", key.variant);
                }
                key
            }
        }
    }
}

/// What names the renders of one data-set row inside a template's group.
pub fn row_tag(project: &str, set: &str, key: &str) -> String {
    format!(
        "r{}",
        &digest(&[project.as_bytes(), set.as_bytes(), key.as_bytes()])[..16]
    )
}

/// Where a template's renders live in the derivative cache: all versions together, so one
/// purge removes them.
pub fn template_group(name: &str) -> String {
    digest(&[b"template", name.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(hash: &str, from_pyramid: bool, canonical: &str, settings: &str) -> CacheKey {
        Derivative {
            subject: Subject::Source {
                content_hash: hash,
                from_pyramid,
            },
            canonical,
            settings,
            format: Format::Jpg,
        }
        .key()
    }

    #[test]
    fn every_part_separates_derivatives() {
        let base = source("aa11", false, "full/max/0/default.jpg", "s1");
        assert_eq!(base, source("aa11", false, "full/max/0/default.jpg", "s1"));
        assert_ne!(base, source("bb22", false, "full/max/0/default.jpg", "s1"));
        assert_ne!(base, source("aa11", true, "full/max/0/default.jpg", "s1"));
        assert_ne!(base, source("aa11", false, "full/100,/0/default.jpg", "s1"));
        assert_ne!(base, source("aa11", false, "full/max/0/default.jpg", "s2"));
        assert_eq!(base.content, "aa11", "grouped by source content");
        let template = |fields: &str, draft: bool| {
            Derivative {
                subject: Subject::Template {
                    name: "t",
                    content_hash: "c",
                    fields,
                    pictures: "p",
                    draft,
                    row: None,
                },
                canonical: "full/max/0/default.jpg",
                settings: "s1",
                format: Format::Jpg,
            }
            .key()
        };
        assert_ne!(template("name=A", false), template("name=B", false));
        assert_ne!(
            template("name=A", false),
            template("name=A", true),
            "a draft is never its published twin"
        );
        assert_eq!(template("name=A", false).content, template_group("t"));
    }
}
