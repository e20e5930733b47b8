//! A sequential JPEG of any size cut into bands of whole MCU rows, each a JPEG of its own,
//! without decoding pixels: the scan is read once from start to end, a chunk at a time, and
//! each band's blocks keep their AC codes bit for bit; only the DC differences are written
//! anew (a band starts from zero, and restart intervals disappear), with the standard DC
//! table, which codes every difference of 8-bit data. Memory holds one band's codes, so a
//! gigapixel JPEG is read in bands a few megabytes each (the pyramid builder decodes them).

use std::io::Read;

use super::entropy::{BitReader, BitWriter, Destuffed, Destuffer, HuffmanTable};
use super::{JoinError, Layout, corrupt, markers, unsupported, write_headers};

/// Bytes of entropy-coded data read at a time.
const CHUNK: usize = 1 << 20;
/// Destuffed bytes kept ahead of the next MCU: more than the longest MCU can take (ten blocks
/// of 64 codes of at most 27 bits each, about 2.2 KB).
const MARGIN: usize = 16 << 10;
/// Most bytes of header segments (EXIF, ICC, XMP, tables) before the scan.
const MAX_HEADER: usize = 16 << 20;

/// One band: `height` rows of the image from row `y`, as a JPEG file.
#[derive(Debug)]
pub struct Band {
    pub y: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

/// Where one block's AC codes lie, and its DC value.
#[derive(Debug, Clone, Copy)]
struct Block {
    after_dc: u64,
    end: u64,
    dc: i32,
}

/// Cuts the JPEG read from `input` into bands, top to bottom.
pub struct Bands<R> {
    input: R,
    layout: Layout,
    /// The layout bands are written with: every DC table the standard one.
    out_layout: Layout,
    width: u32,
    height: u32,
    restart: u64,
    /// MCU rows already cut.
    rows_done: u32,
    /// Destuffed data from a little before the next MCU on, and restart interval starts in it.
    data: Destuffed,
    destuffer: Destuffer,
    input_ended: bool,
    /// The restart interval the next MCU is in (an index of `data.segments`).
    segment: usize,
    pos: u64,
    mcus_read: u64,
    predictors: [i32; 4],
    chunk: Vec<u8>,
}

impl<R: Read> Bands<R> {
    /// Reads the header of the JPEG in `input`. `Unsupported` for what cannot be cut
    /// (progressive, lossless, arithmetic coding, 12 bits, no height in the frame).
    pub fn open(mut input: R) -> Result<Bands<R>, JoinError> {
        let bytes = read_header(&mut input)?;
        let header = markers::parse(&bytes)?;
        if header.data != bytes.len() {
            return Err(corrupt("header segments after the scan header"));
        }
        if header.height == 0 {
            return Err(unsupported("height defined after the scan (DNL)"));
        }
        let layout = Layout::of(&header)?;
        let mut out_layout = Layout::of(&header)?;
        for t in &mut out_layout.tables {
            t.2 = HuffmanTable::standard_dc();
        }
        Ok(Bands {
            input,
            layout,
            out_layout,
            width: header.width as u32,
            height: header.height as u32,
            restart: header.restart as u64,
            rows_done: 0,
            data: Destuffed {
                data: Vec::with_capacity(CHUNK + MARGIN),
                segments: vec![0],
            },
            destuffer: Destuffer::default(),
            input_ended: false,
            segment: 0,
            pos: 0,
            mcus_read: 0,
            predictors: [0; 4],
            chunk: vec![0; CHUNK],
        })
    }

    /// The image's width and height.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Colour components: 1 (gray), 3 (YCbCr or RGB), 4 (CMYK or YCCK).
    pub fn components(&self) -> usize {
        self.layout.components.len()
    }

    /// The next band, at least `min_rows` high (whole MCU rows) unless the image ends first;
    /// `None` after the last.
    pub fn next_band(&mut self, min_rows: u32) -> Result<Option<Band>, JoinError> {
        let (mw, mh) = self.layout.mcu;
        let mcu_rows = self.height.div_ceil(mh);
        if self.rows_done >= mcu_rows {
            return Ok(None);
        }
        let rows = min_rows.max(1).div_ceil(mh).min(mcu_rows - self.rows_done);
        let count = rows as u64 * self.width.div_ceil(mw) as u64;
        let per_mcu: u32 = self.layout.blocks.iter().sum();
        let mut blocks = Vec::with_capacity(count as usize * per_mcu as usize);
        for _ in 0..count {
            self.read_mcu(&mut blocks)?;
        }
        let y = self.rows_done * mh;
        let height = (rows * mh).min(self.height - y);
        let jpeg = self.write_band(&blocks, height)?;
        self.rows_done += rows;
        self.forget_read_data();
        Ok(Some(Band { y, height, jpeg }))
    }

    /// Reads one MCU's blocks, after moving to the next restart interval if it starts one.
    fn read_mcu(&mut self, blocks: &mut Vec<Block>) -> Result<(), JoinError> {
        let m = self.mcus_read;
        if self.restart > 0 && m > 0 && m.is_multiple_of(self.restart) {
            self.segment += 1;
            // The marker follows the interval's last MCU: a file without it is not read on to
            // its end looking for one.
            while self.data.segments.len() <= self.segment
                && !self.input_ended
                && self.data.data.len() < (self.pos / 8) as usize + MARGIN
            {
                self.fill()?;
            }
            self.pos = *self
                .data
                .segments
                .get(self.segment)
                .ok_or_else(|| corrupt("restart marker missing"))?;
            self.predictors = [0; 4];
        }
        while !self.input_ended && self.data.data.len() < (self.pos / 8) as usize + MARGIN {
            self.fill()?;
        }
        let mut reader = BitReader::new(&self.data.data);
        reader.pos = self.pos;
        if let Some(&next) = self.data.segments.get(self.segment + 1) {
            reader.end = next;
        }
        for (c, (&n, (_, _, dc, ac))) in self
            .layout
            .blocks
            .iter()
            .zip(&self.layout.tables)
            .enumerate()
        {
            for _ in 0..n {
                let after_dc = reader.dc(dc, &mut self.predictors[c])?;
                reader.skip_ac(ac)?;
                blocks.push(Block {
                    after_dc,
                    end: reader.pos,
                    dc: self.predictors[c],
                });
            }
        }
        self.pos = reader.pos;
        self.mcus_read += 1;
        Ok(())
    }

    /// Reads and destuffs the next chunk of the scan.
    fn fill(&mut self) -> Result<(), JoinError> {
        let n = loop {
            match self.input.read(&mut self.chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(JoinError::Corrupt(format!("reading the scan: {e}"))),
            }
        };
        self.input_ended = n == 0 || self.destuffer.feed(&self.chunk[..n], &mut self.data);
        Ok(())
    }

    /// A JPEG of the band's blocks: the source's tables except DC, which is the standard table,
    /// every DC difference written from the band's own first block on, AC codes copied.
    fn write_band(&self, blocks: &[Block], height: u32) -> Result<Vec<u8>, JoinError> {
        let mut head = Vec::with_capacity(blocks.len() * 16);
        write_headers(&mut head, &self.out_layout, self.width, height);
        let mut out = BitWriter::new(head);
        let mut predictors = [0i32; 4];
        let mut at = 0;
        while at < blocks.len() {
            for (c, &n) in self.layout.blocks.iter().enumerate() {
                let table = &self.out_layout.tables[c].2;
                for b in &blocks[at..at + n as usize] {
                    out.dc(table, b.dc - predictors[c])?;
                    predictors[c] = b.dc;
                    out.copy(&self.data.data, b.after_dc, b.end);
                }
                at += n as usize;
            }
        }
        let mut jpeg = out.finish();
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        Ok(jpeg)
    }

    /// Drops the data before the next MCU's byte, keeping restart interval starts in step.
    fn forget_read_data(&mut self) {
        let cut = (self.pos / 8) as usize;
        let bits = cut as u64 * 8;
        self.data.data.drain(..cut);
        self.pos -= bits;
        let kept: Vec<u64> = self.data.segments[self.segment..]
            .iter()
            .map(|s| s.saturating_sub(bits))
            .collect();
        self.data.segments = kept;
        self.segment = 0;
    }
}

/// Reads the segments before the entropy-coded data: SOI up to and including SOS.
fn read_header(input: &mut impl Read) -> Result<Vec<u8>, JoinError> {
    let io = |e: std::io::Error| JoinError::Corrupt(format!("reading the header: {e}"));
    let mut out = vec![0; 2];
    input.read_exact(&mut out).map_err(io)?;
    if out != [0xFF, 0xD8] {
        return Err(corrupt("no start of image"));
    }
    let mut byte = [0u8; 1];
    loop {
        input.read_exact(&mut byte).map_err(io)?;
        if byte[0] != 0xFF {
            return Err(corrupt("expected a marker"));
        }
        // Fill bytes may precede a marker.
        while byte[0] == 0xFF {
            input.read_exact(&mut byte).map_err(io)?;
        }
        let marker = byte[0];
        out.extend_from_slice(&[0xFF, marker]);
        if (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            continue;
        }
        if marker == 0xD9 {
            return Err(corrupt("image ends before its scan"));
        }
        let mut len = [0u8; 2];
        input.read_exact(&mut len).map_err(io)?;
        let body = (u16::from_be_bytes(len) as usize)
            .checked_sub(2)
            .ok_or_else(|| corrupt("segment length below 2"))?;
        if out.len() + body > MAX_HEADER {
            return Err(unsupported("header segments over 16 MB"));
        }
        out.extend_from_slice(&len);
        let start = out.len();
        out.resize(start + body, 0);
        input.read_exact(&mut out[start..]).map_err(io)?;
        if marker == 0xDA {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{decode_pixels, encode, mean_abs_diff, picture};
    use super::*;

    /// Cuts an encoded picture into bands and decodes each; the rows, stacked.
    fn bands_decoded(jpeg: &[u8], min_rows: u32, channels: usize) -> (Vec<u8>, Vec<u32>) {
        let mut bands = Bands::open(std::io::Cursor::new(jpeg)).unwrap();
        let (mut pixels, mut starts) = (Vec::new(), Vec::new());
        while let Some(band) = bands.next_band(min_rows).unwrap() {
            let (p, w, h) = decode_pixels(&band.jpeg, channels);
            assert_eq!((w as u32, h as u32), (bands.size().0, band.height));
            starts.push(band.y);
            pixels.extend_from_slice(&p);
        }
        (pixels, starts)
    }

    #[test]
    fn bands_decode_to_the_rows_of_the_whole_image() {
        for (channels, restart) in [(3, 0), (3, 5), (1, 0), (1, 7)] {
            let (w, h) = (301, 203);
            let jpeg = encode(
                &picture(w, h, channels),
                (w, h),
                channels,
                jpeg_encoder::SamplingFactor::F_1_1,
                restart,
            );
            let (whole, _, _) = decode_pixels(&jpeg, channels);
            let (banded, starts) = bands_decoded(&jpeg, 20, channels);
            assert_eq!(starts, (0..203).step_by(24).collect::<Vec<_>>());
            assert!(
                banded == whole,
                "{channels} channels, restart {restart}: pixels differ"
            );
        }
    }

    #[test]
    fn subsampled_bands_keep_their_coefficients() {
        let (w, h) = (256, 250);
        let jpeg = encode(
            &picture(w, h, 3),
            (w, h),
            3,
            jpeg_encoder::SamplingFactor::F_2_2,
            4,
        );
        let (whole, _, _) = decode_pixels(&jpeg, 3);
        let (banded, starts) = bands_decoded(&jpeg, 64, 3);
        assert_eq!(starts, vec![0, 64, 128, 192]);
        assert_eq!(banded.len(), whole.len());
        // Chroma is interpolated within each band only: a small difference at band seams.
        let mad = mean_abs_diff(&banded, &whole);
        assert!(mad < 0.5, "mean absolute difference {mad}");
    }

    #[test]
    fn progressive_and_truncated_jpegs_are_refused() {
        let mut progressive = Vec::new();
        let mut e = jpeg_encoder::Encoder::new(&mut progressive, 80);
        e.set_progressive(true);
        e.encode(&picture(64, 64, 3), 64, 64, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let r = Bands::open(std::io::Cursor::new(&progressive));
        assert!(matches!(r, Err(JoinError::Unsupported(_))));
        let whole = encode(
            &picture(64, 64, 3),
            (64, 64),
            3,
            jpeg_encoder::SamplingFactor::F_1_1,
            0,
        );
        let cut = &whole[..whole.len() / 2];
        let mut bands = Bands::open(std::io::Cursor::new(cut)).unwrap();
        let mut result = Ok(None);
        for _ in 0..8 {
            result = bands.next_band(8);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(JoinError::Corrupt(_))), "{result:?}");
    }
}
