//! One-page PDF wrapped around a single image.
//!
//! Written by hand: the file is six objects (Catalog, Pages, Page, Image
//! XObject, content stream, Info), which is far less code than a PDF library
//! and keeps JPEG bytes untouched (DCTDecode passes them straight to the
//! viewer, so there is no generation loss).

use std::fmt::Write as _;
use std::io::Write as _;

use flate2::Compression;
use flate2::write::ZlibEncoder;

/// Largest page side in points. PDF 1.4's implementation limit (Acrobat,
/// PDF Reference Appendix C) is 14 400 units, i.e. 200 inches.
const MAX_PAGE_PT: f64 = 14_400.0;

/// What goes on the page.
pub enum PageImage<'a> {
    /// Baseline or progressive JPEG bytes, embedded as is (DCTDecode): no re-encoding. `components`: 1 gray or 3 RGB.
    Jpeg {
        /// The complete JPEG file, starting with the SOI marker.
        data: &'a [u8],
        /// Pixel width, as in the JPEG's frame header.
        width: u32,
        /// Pixel height, as in the JPEG's frame header.
        height: u32,
        /// 1 (gray) or 3 (RGB/YCbCr); 4 (CMYK) is refused.
        components: u8,
    },
    /// 8-bit RGB pixels, width*height*3 bytes, compressed with FlateDecode.
    Rgb {
        /// Row-major RGB, no padding.
        pixels: &'a [u8],
        /// Pixel width.
        width: u32,
        /// Pixel height.
        height: u32,
    },
}

/// Why the PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// Width or height is zero.
    #[error("image has zero width or height")]
    ZeroSize,
    /// `Rgb` pixels are not `width * height * 3` bytes.
    #[error("pixel buffer is {actual} bytes, expected {expected} (width * height * 3)")]
    BufferLength {
        /// `width * height * 3`.
        expected: u64,
        /// What was given.
        actual: usize,
    },
    /// dpi is not a number in 1..=2400.
    #[error("dpi {0} is outside 1..=2400")]
    Dpi(f32),
    /// A page side would exceed PDF's 14400 pt implementation limit.
    #[error(
        "page would be {width_pt:.3} x {height_pt:.3} pt, over PDF's implementation limit of 14400 pt (200 in) per side; raise the dpi or shrink the image"
    )]
    PageTooLarge {
        /// Page width in points.
        width_pt: f64,
        /// Page height in points.
        height_pt: f64,
    },
    /// 4-component JPEG: PDF would need /DeviceCMYK and Adobe's inverted-CMYK
    /// quirk (a /Decode array); the caller converts to RGB instead.
    #[error("CMYK JPEG (4 components) is not supported; convert it to RGB first")]
    CmykJpeg,
    /// JPEG component count other than 1, 3 or 4.
    #[error("JPEG must have 1 (gray) or 3 (RGB) components, not {0}")]
    Components(u8),
    /// JPEG data does not start with the SOI marker (FF D8).
    #[error("data is not a JPEG (no FF D8 start-of-image marker)")]
    NotJpeg,
    /// Flate compression failed (writes into memory; not expected).
    #[error("compressing pixels: {0}")]
    Compress(#[from] std::io::Error),
}

/// A PDF 1.4 file with one page the size of the image at `dpi` (72 dpi: one pixel is one point), the image filling it. `title`: optional /Title in the Info dictionary (escape \ ( ) and non-ASCII via UTF-16BE hex string with BOM).
pub fn page(image: PageImage, dpi: f32, title: Option<&str>) -> Result<Vec<u8>, PdfError> {
    // `contains` is false for NaN, so NaN is refused too.
    if !(1.0..=2400.0).contains(&dpi) {
        return Err(PdfError::Dpi(dpi));
    }
    let (width, height) = match image {
        PageImage::Jpeg { width, height, .. } | PageImage::Rgb { width, height, .. } => {
            (width, height)
        }
    };
    if width == 0 || height == 0 {
        return Err(PdfError::ZeroSize);
    }
    let (colour_space, filter, data) = match image {
        PageImage::Jpeg {
            data, components, ..
        } => {
            let space = match components {
                1 => "/DeviceGray",
                3 => "/DeviceRGB",
                4 => return Err(PdfError::CmykJpeg),
                n => return Err(PdfError::Components(n)),
            };
            if !data.starts_with(&[0xFF, 0xD8]) {
                return Err(PdfError::NotJpeg);
            }
            check_page_size(width, height, dpi)?;
            (space, "/DCTDecode", std::borrow::Cow::Borrowed(data))
        }
        PageImage::Rgb { pixels, .. } => {
            // Saturating: u32::MAX² * 3 overflows u64, and no buffer is that long.
            let expected = (u64::from(width) * u64::from(height)).saturating_mul(3);
            if u64::try_from(pixels.len()).ok() != Some(expected) {
                return Err(PdfError::BufferLength {
                    expected,
                    actual: pixels.len(),
                });
            }
            // Check before compressing: no point deflating a refused image.
            check_page_size(width, height, dpi)?;
            let mut z =
                ZlibEncoder::new(Vec::with_capacity(pixels.len() / 4), Compression::default());
            z.write_all(pixels)?;
            (
                "/DeviceRGB",
                "/FlateDecode",
                std::borrow::Cow::Owned(z.finish()?),
            )
        }
    };
    let w_pt = number(points(width, dpi));
    let h_pt = number(points(height, dpi));

    let mut pdf = Pdf::new();
    pdf.object(b"<< /Type /Catalog /Pages 2 0 R >>", None);
    pdf.object(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", None);
    pdf.object(
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt} {h_pt}] \
             /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>"
        )
        .as_bytes(),
        None,
    );
    pdf.object(
        format!(
            "<< /Type /XObject /Subtype /Image /Width {width} /Height {height} \
             /ColorSpace {colour_space} /BitsPerComponent 8 /Filter {filter} /Length {} >>",
            data.len()
        )
        .as_bytes(),
        Some(&data),
    );
    // Scale the unit square the image occupies to the full page.
    let content = format!("q {w_pt} 0 0 {h_pt} 0 0 cm /Im0 Do Q");
    pdf.object(
        format!("<< /Length {} >>", content.len()).as_bytes(),
        Some(content.as_bytes()),
    );
    let mut info = String::from("<< /Producer (Tessera)");
    if let Some(t) = title {
        info.push_str(" /Title ");
        info.push_str(&text_string(t));
    }
    info.push_str(" >>");
    pdf.object(info.as_bytes(), None);
    Ok(pdf.finish(1, 6))
}

fn points(px: u32, dpi: f32) -> f64 {
    f64::from(px) * 72.0 / f64::from(dpi)
}

fn check_page_size(width: u32, height: u32, dpi: f32) -> Result<(), PdfError> {
    let (width_pt, height_pt) = (points(width, dpi), points(height, dpi));
    if width_pt > MAX_PAGE_PT || height_pt > MAX_PAGE_PT {
        return Err(PdfError::PageTooLarge {
            width_pt,
            height_pt,
        });
    }
    Ok(())
}

/// At most 3 decimals, trailing zeros dropped; `{:.3}` never uses an exponent,
/// which PDF numbers do not allow.
fn number(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A PDF text string: a literal `( )` string for ASCII, otherwise UTF-16BE
/// with a byte-order mark as a hex string (PDFDocEncoding cannot hold most
/// Unicode, and hex needs no escaping).
fn text_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    if s.is_ascii() {
        out.push('(');
        for c in s.chars() {
            match c {
                '\\' | '(' | ')' => {
                    out.push('\\');
                    out.push(c);
                }
                // Raw CR/LF would be normalized by readers; octal keeps them exact.
                c if c.is_ascii_control() => {
                    let _ = write!(out, "\\{:03o}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push(')');
    } else {
        out.push_str("<FEFF");
        for unit in s.encode_utf16() {
            let _ = write!(out, "{unit:04X}");
        }
        out.push('>');
    }
    out
}

/// Sequential object writer that remembers offsets for the xref table.
struct Pdf {
    buf: Vec<u8>,
    offsets: Vec<usize>,
}

impl Pdf {
    fn new() -> Pdf {
        let mut buf = Vec::new();
        // The comment with bytes ≥ 128 tells transfer tools the file is binary.
        buf.extend_from_slice(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
        Pdf {
            buf,
            offsets: Vec::new(),
        }
    }

    /// Appends object number `offsets.len() + 1`.
    fn object(&mut self, dict: &[u8], stream: Option<&[u8]>) {
        self.offsets.push(self.buf.len());
        let n = self.offsets.len();
        self.buf
            .extend_from_slice(format!("{n} 0 obj\n").as_bytes());
        self.buf.extend_from_slice(dict);
        if let Some(data) = stream {
            self.buf.extend_from_slice(b"\nstream\n");
            self.buf.extend_from_slice(data);
            self.buf.extend_from_slice(b"\nendstream");
        }
        self.buf.extend_from_slice(b"\nendobj\n");
    }

    fn finish(mut self, root: usize, info: usize) -> Vec<u8> {
        let xref = self.buf.len();
        let size = self.offsets.len() + 1;
        let mut t = format!("xref\n0 {size}\n0000000000 65535 f\r\n");
        for off in &self.offsets {
            // Each entry is exactly 20 bytes: 10 + 1 + 5 + 1 + 1 + "\r\n".
            let _ = write!(t, "{off:010} 00000 n\r\n");
        }
        let _ = write!(
            t,
            "trailer\n<< /Size {size} /Root {root} 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        );
        self.buf.extend_from_slice(t.as_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// Minimal structural check; returns each object's bytes ("k 0 obj" up to
    /// "endobj"), index 0 = object 1.
    fn parse(pdf: &[u8]) -> Vec<Vec<u8>> {
        assert!(pdf.starts_with(b"%PDF-1.4\n%"));
        assert!(pdf[10..14].iter().all(|&b| b >= 128), "binary comment");
        assert!(pdf.ends_with(b"%%EOF\n"));
        let sx = pdf.windows(10).rposition(|w| w == b"startxref\n").unwrap();
        let tail = text(&pdf[sx..]);
        let xref_at: usize = tail.lines().nth(1).unwrap().parse().unwrap();
        let xref = &pdf[xref_at..];
        assert!(xref.starts_with(b"xref\n0 "));
        let header_end = find(xref, b"\n").unwrap() + 1;
        let counts = &xref[header_end..];
        let line_end = find(counts, b"\n").unwrap();
        let size: usize = text(&counts[2..line_end]).parse().unwrap();
        let entries = &counts[line_end + 1..];
        assert_eq!(&entries[..20], b"0000000000 65535 f\r\n");
        let trailer = text(&entries[size * 20..]);
        assert!(trailer.starts_with("trailer\n<<"), "{trailer}");
        assert!(trailer.contains(&format!("/Size {size} ")));
        assert!(trailer.contains("/Root 1 0 R"));
        assert!(trailer.contains("/Info 6 0 R"));
        (1..size)
            .map(|k| {
                let e = &entries[k * 20..(k + 1) * 20];
                assert!(e.ends_with(b" 00000 n\r\n"), "{}", text(e));
                let off: usize = text(&e[..10]).parse().unwrap();
                let obj = &pdf[off..];
                assert!(
                    obj.starts_with(format!("{k} 0 obj\n").as_bytes()),
                    "object {k}"
                );
                obj[..find(obj, b"\nendobj\n").unwrap()].to_vec()
            })
            .collect()
    }

    /// The value after `/Key ` in a dictionary, up to the next space or `]`/`>`.
    fn value(obj: &[u8], key: &str) -> String {
        let s = text(obj);
        let i = s.find(&format!("/{key} ")).unwrap() + key.len() + 2;
        s[i..].split([' ', '>', '\n']).next().unwrap().to_string()
    }

    fn bracket(obj: &[u8], key: &str) -> String {
        let s = text(obj);
        let i = s.find(&format!("/{key} [")).unwrap() + key.len() + 2;
        s[i..=i + s[i..].find(']').unwrap()].to_string()
    }

    /// Stream bytes, checking /Length against them.
    fn stream(obj: &[u8]) -> Vec<u8> {
        let start = find(obj, b"\nstream\n").unwrap() + 8;
        assert!(obj.ends_with(b"\nendstream"));
        let data = &obj[start..obj.len() - 10];
        assert_eq!(value(obj, "Length"), data.len().to_string());
        data.to_vec()
    }

    fn fake_jpeg(len: usize) -> Vec<u8> {
        let mut d = vec![0xFF, 0xD8, 0xFF, 0xE0];
        d.extend((0..len).map(|i| (i * 7 + 3) as u8));
        d.extend_from_slice(&[0xFF, 0xD9]);
        d
    }

    fn gradient(w: u32, h: u32) -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [x as u8, y as u8, (x ^ y) as u8]))
            .collect()
    }

    #[test]
    fn structure_and_media_box_at_72_dpi() {
        let jpeg = fake_jpeg(5000);
        let img = PageImage::Jpeg {
            data: &jpeg,
            width: 2000,
            height: 1414,
            components: 3,
        };
        let pdf = page(img, 72.0, None).unwrap();
        let objs = parse(&pdf);
        assert_eq!(objs.len(), 6);
        assert!(text(&objs[0]).contains("/Type /Catalog"));
        assert!(text(&objs[1]).contains("/Kids [3 0 R] /Count 1"));
        assert_eq!(bracket(&objs[2], "MediaBox"), "[0 0 2000 1414]");
        assert_eq!(value(&objs[3], "Width"), "2000");
        assert_eq!(value(&objs[3], "Height"), "1414");
        assert_eq!(value(&objs[3], "Filter"), "/DCTDecode");
        assert_eq!(value(&objs[3], "ColorSpace"), "/DeviceRGB");
        assert_eq!(stream(&objs[4]), b"q 2000 0 0 1414 0 0 cm /Im0 Do Q");
        assert!(!text(&objs[5]).contains("/Title"));
    }

    #[test]
    fn media_box_at_300_dpi() {
        let jpeg = fake_jpeg(10);
        let img = PageImage::Jpeg {
            data: &jpeg,
            width: 2000,
            height: 1414,
            components: 1,
        };
        let objs = parse(&page(img, 300.0, None).unwrap());
        // 2000 * 72 / 300 = 480, 1414 * 72 / 300 = 339.36
        assert_eq!(bracket(&objs[2], "MediaBox"), "[0 0 480 339.36]");
        assert_eq!(stream(&objs[4]), b"q 480 0 0 339.36 0 0 cm /Im0 Do Q");
        assert_eq!(value(&objs[3], "ColorSpace"), "/DeviceGray");
        // Image keeps its pixel size whatever the dpi.
        assert_eq!(value(&objs[3], "Width"), "2000");
    }

    #[test]
    fn numbers_have_three_decimals_at_most() {
        assert_eq!(number(points(1, 96.0)), "0.75");
        assert_eq!(number(points(1, 2400.0)), "0.03");
        assert_eq!(number(points(7, 7.0)), "72");
        assert_eq!(number(points(1000, 7.0)), "10285.714");
        assert_eq!(number(14_400.0), "14400");
    }

    #[test]
    fn jpeg_is_embedded_verbatim() {
        let jpeg = fake_jpeg(3000);
        let img = PageImage::Jpeg {
            data: &jpeg,
            width: 10,
            height: 10,
            components: 3,
        };
        let pdf = page(img, 150.0, None).unwrap();
        let objs = parse(&pdf);
        assert_eq!(stream(&objs[3]), jpeg);
        assert!(find(&pdf, &jpeg).is_some());
    }

    #[test]
    fn flate_stream_inflates_to_pixels() {
        let px = gradient(37, 23);
        let img = PageImage::Rgb {
            pixels: &px,
            width: 37,
            height: 23,
        };
        let objs = parse(&page(img, 72.0, Some("x")).unwrap());
        assert_eq!(value(&objs[3], "Filter"), "/FlateDecode");
        assert_eq!(value(&objs[3], "BitsPerComponent"), "8");
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&stream(&objs[3])[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, px);
    }

    #[test]
    fn title_escaping() {
        assert_eq!(text_string(r"a\b(c)d"), r"(a\\b\(c\)d)");
        assert_eq!(text_string("line\nbreak\r"), r"(line\012break\015)");
        assert_eq!(text_string("Café"), "<FEFF00430061006600E9>");
        assert_eq!(text_string("⏱😀"), "<FEFF23F1D83DDE00>");
        assert_eq!(text_string(""), "()");
        let jpeg = fake_jpeg(1);
        let img = PageImage::Jpeg {
            data: &jpeg,
            width: 1,
            height: 1,
            components: 3,
        };
        let objs = parse(&page(img, 72.0, Some("Sale (ends) \\ soon")).unwrap());
        assert!(text(&objs[5]).contains(r"/Title (Sale \(ends\) \\ soon)"));
    }

    #[test]
    fn errors() {
        let jpeg = fake_jpeg(1);
        let j = |w, h, c| PageImage::Jpeg {
            data: &jpeg,
            width: w,
            height: h,
            components: c,
        };
        assert!(matches!(
            page(j(0, 5, 3), 72.0, None),
            Err(PdfError::ZeroSize)
        ));
        assert!(matches!(
            page(j(5, 0, 3), 72.0, None),
            Err(PdfError::ZeroSize)
        ));
        assert!(matches!(
            page(j(5, 5, 4), 72.0, None),
            Err(PdfError::CmykJpeg)
        ));
        assert!(matches!(
            page(j(5, 5, 2), 72.0, None),
            Err(PdfError::Components(2))
        ));
        for dpi in [0.0, 0.99, 2400.5, f32::NAN, f32::INFINITY, -72.0] {
            assert!(
                matches!(page(j(5, 5, 3), dpi, None), Err(PdfError::Dpi(_))),
                "{dpi}"
            );
        }
        assert!(page(j(5, 5, 3), 1.0, None).is_ok());
        assert!(page(j(5, 5, 3), 2400.0, None).is_ok());
        // 14400 pt is allowed, one pixel more is not.
        assert!(page(j(14_400, 1, 3), 72.0, None).is_ok());
        let e = page(j(1, 14_401, 3), 72.0, None).unwrap_err();
        assert!(matches!(e, PdfError::PageTooLarge { .. }));
        assert!(e.to_string().contains("14400 pt"), "{e}");
        assert!(page(j(60_000, 60_000, 3), 300.0, None).is_ok()); // 14400 pt exactly
        assert!(matches!(
            page(j(u32::MAX, u32::MAX, 3), 1.0, None),
            Err(PdfError::PageTooLarge { .. })
        ));
        let not_jpeg = [0x89, b'P', b'N', b'G'];
        let img = PageImage::Jpeg {
            data: &not_jpeg,
            width: 1,
            height: 1,
            components: 3,
        };
        assert!(matches!(page(img, 72.0, None), Err(PdfError::NotJpeg)));
        let img = PageImage::Jpeg {
            data: &[],
            width: 1,
            height: 1,
            components: 3,
        };
        assert!(matches!(page(img, 72.0, None), Err(PdfError::NotJpeg)));
        let px = [0u8; 11];
        let rgb = |w, h| PageImage::Rgb {
            pixels: &px,
            width: w,
            height: h,
        };
        assert!(matches!(
            page(rgb(2, 2), 72.0, None),
            Err(PdfError::BufferLength {
                expected: 12,
                actual: 11
            })
        ));
        assert!(matches!(
            page(rgb(u32::MAX, u32::MAX), 72.0, None),
            Err(PdfError::BufferLength { .. })
        ));
    }

    /// Runs poppler's `pdfinfo` when it is installed; skipped otherwise.
    #[test]
    fn pdfinfo_accepts_the_file() {
        let px = gradient(2000, 1414);
        let img = PageImage::Rgb {
            pixels: &px,
            width: 2000,
            height: 1414,
        };
        let pdf = page(img, 72.0, Some("Countdown – Café")).unwrap();
        let path =
            std::env::temp_dir().join(format!("tessera-pdf-test-{}.pdf", std::process::id()));
        std::fs::write(&path, &pdf).unwrap();
        let run = std::process::Command::new("pdfinfo").arg(&path).output();
        let _ = std::fs::remove_file(&path);
        let out = match run {
            Ok(o) => o,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("pdfinfo not installed; skipping");
                return;
            }
            Err(e) => panic!("running pdfinfo: {e}"),
        };
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stderr.trim().is_empty(), "pdfinfo complained: {stderr}");
        assert!(stdout.contains("Pages:           1"), "{stdout}");
        assert!(
            stdout.contains("Page size:       2000 x 1414 pts"),
            "{stdout}"
        );
        assert!(
            stdout.contains("Title:           Countdown – Café"),
            "{stdout}"
        );
        assert!(stdout.contains("PDF version:     1.4"), "{stdout}");
    }
}
