//! Huffman-coded blocks (ITU T.81, F.1.2 and F.2.2): reading a scan's codes to find where each
//! block and its DC difference lie, writing new DC differences and copying the rest bit for
//! bit, with byte stuffing and restart markers.

use super::JoinError;

/// Codes looked up in one step: most symbols of photographic data are this short or shorter.
const LOOKUP_BITS: u32 = 9;

/// A Huffman table for decoding and for encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuffmanTable {
    /// Top `LOOKUP_BITS` bits → (code length, symbol); length 0 when the code is longer.
    lookup: Box<[(u8, u8); 1 << LOOKUP_BITS]>,
    /// Largest code of each length 1..=16 (-1 when none), and where its symbols start.
    max_code: [i32; 17],
    offset: [i32; 17],
    /// The DHT's counts per length and symbols, as read.
    counts: [u8; 16],
    values: Vec<u8>,
    /// Symbol → (code, length); length 0 when the table has no code for it.
    codes: Box<[(u16, u8); 256]>,
}

impl HuffmanTable {
    /// Builds a table from a DHT's code counts per length and its symbols.
    pub fn new(counts: &[u8; 16], values: &[u8]) -> Result<HuffmanTable, JoinError> {
        let mut lookup = Box::new([(0u8, 0u8); 1 << LOOKUP_BITS]);
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        let mut codes = Box::new([(0u16, 0u8); 256]);
        let mut code: u32 = 0;
        let mut k = 0usize;
        for len in 1..=16u32 {
            let n = counts[len as usize - 1] as usize;
            offset[len as usize] = k as i32 - code as i32;
            for _ in 0..n {
                let symbol = *values
                    .get(k)
                    .ok_or_else(|| JoinError::Corrupt("Huffman table short".into()))?;
                if code >= 1 << len {
                    return Err(JoinError::Corrupt("Huffman table overfull".into()));
                }
                // A symbol with two codes would be written with one and read as another.
                if codes[symbol as usize].1 != 0 {
                    return Err(JoinError::Corrupt("Huffman table repeats a symbol".into()));
                }
                codes[symbol as usize] = (code as u16, len as u8);
                if len <= LOOKUP_BITS {
                    let shift = LOOKUP_BITS - len;
                    let base = (code << shift) as usize;
                    for slot in &mut lookup[base..base + (1 << shift)] {
                        *slot = (len as u8, symbol);
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                max_code[len as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        Ok(HuffmanTable {
            lookup,
            max_code,
            offset,
            counts: *counts,
            values: values[..k].to_vec(),
            codes,
        })
    }

    /// Table K.3 of T.81 (luminance DC): a code for every DC category of 8-bit data.
    pub fn standard_dc() -> HuffmanTable {
        let counts = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
        HuffmanTable::new(&counts, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
            .expect("the standard table is valid")
    }

    /// The DHT body of this table in slot `class << 4 | id`.
    pub fn dht(&self, class_and_id: u8) -> Vec<u8> {
        let mut out = vec![class_and_id];
        out.extend_from_slice(&self.counts);
        out.extend_from_slice(&self.values);
        out
    }
}

/// Entropy-coded data with its `FF 00` stuffing removed, cut at restart markers.
pub struct Destuffed {
    pub data: Vec<u8>,
    /// Bit offset where each restart interval starts; the first is 0.
    pub segments: Vec<u64>,
}

/// Removes stuffing from the entropy-coded data at the start of `scan`, up to the first
/// marker that is not a restart marker.
pub fn destuff(scan: &[u8]) -> Destuffed {
    let mut out = Destuffed {
        data: Vec::with_capacity(scan.len()),
        segments: vec![0],
    };
    Destuffer::default().feed(scan, &mut out);
    out
}

/// Removes stuffing from entropy-coded data that arrives in pieces (a scan read from a file a
/// chunk at a time): a marker split across two pieces is still recognised.
#[derive(Debug, Default)]
pub struct Destuffer {
    /// The last byte fed was an `FF` whose meaning depends on the next one.
    after_ff: bool,
    ended: bool,
}

impl Destuffer {
    /// Appends the data in `raw` to `out`; true once a marker other than a restart marker has
    /// ended the entropy-coded data (what follows it is ignored).
    pub fn feed(&mut self, raw: &[u8], out: &mut Destuffed) -> bool {
        let mut rest = raw;
        while !self.ended {
            if self.after_ff {
                let Some((&b, tail)) = rest.split_first() else {
                    return false;
                };
                rest = tail;
                match b {
                    0 => out.data.push(0xFF),
                    0xD0..=0xD7 => out.segments.push(out.data.len() as u64 * 8),
                    // Fill bytes before a marker: still after an FF.
                    0xFF => continue,
                    _ => self.ended = true,
                }
                self.after_ff = false;
                continue;
            }
            match rest.iter().position(|&b| b == 0xFF) {
                Some(i) => {
                    out.data.extend_from_slice(&rest[..i]);
                    rest = &rest[i + 1..];
                    self.after_ff = true;
                }
                None => {
                    out.data.extend_from_slice(rest);
                    return false;
                }
            }
        }
        true
    }
}

/// The 32 bits of `data` from bit `pos` on, zeros past its end.
#[inline]
fn bits32(data: &[u8], pos: u64) -> u32 {
    let byte = (pos / 8) as usize;
    let mut buf = [0u8; 8];
    match data.get(byte..byte + 8) {
        Some(b) => buf.copy_from_slice(b),
        None => {
            let tail = data.get(byte..).unwrap_or(&[]);
            buf[..tail.len()].copy_from_slice(tail);
        }
    }
    ((u64::from_be_bytes(buf) << (pos % 8)) >> 32) as u32
}

/// Reads codes from destuffed data, tracking the bit position (the join copies bit ranges).
pub struct BitReader<'a> {
    data: &'a [u8],
    pub pos: u64,
    /// End of the current restart interval's bits: reading past it means the data is short.
    pub end: u64,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader {
            data,
            pos: 0,
            end: data.len() as u64 * 8,
        }
    }

    #[inline]
    fn take(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = bits32(self.data, self.pos) >> (32 - n);
        self.pos += n as u64;
        v
    }

    #[inline]
    fn symbol(&mut self, table: &HuffmanTable) -> Result<u8, JoinError> {
        let code = bits32(self.data, self.pos);
        let (len, symbol) = table.lookup[(code >> (32 - LOOKUP_BITS)) as usize];
        if len > 0 {
            self.pos += len as u64;
            return Ok(symbol);
        }
        let code = (code >> 16) as i32;
        for len in LOOKUP_BITS + 1..=16 {
            let c = code >> (16 - len);
            if c <= table.max_code[len as usize] {
                self.pos += len as u64;
                let i = (table.offset[len as usize] + c) as usize;
                return table
                    .values
                    .get(i)
                    .copied()
                    .ok_or_else(|| JoinError::Corrupt("bad Huffman code".into()));
            }
        }
        Err(JoinError::Corrupt("bad Huffman code".into()))
    }

    /// Reads one block's DC difference, adding it to `predictor`, and returns the bit position
    /// after it.
    #[inline]
    pub fn dc(&mut self, table: &HuffmanTable, predictor: &mut i32) -> Result<u64, JoinError> {
        let s = self.symbol(table)? as u32;
        if s > 11 {
            return Err(JoinError::Corrupt("DC difference too large".into()));
        }
        *predictor += extend(self.take(s), s);
        if !(-2048..=2047).contains(predictor) {
            return Err(JoinError::Corrupt("DC value out of range".into()));
        }
        Ok(self.pos)
    }

    /// Skips one block's AC codes.
    #[inline]
    pub fn skip_ac(&mut self, table: &HuffmanTable) -> Result<(), JoinError> {
        let mut k = 1u32;
        while k < 64 {
            let rs = self.symbol(table)?;
            let (run, size) = ((rs >> 4) as u32, (rs & 15) as u32);
            if size == 0 {
                if run != 15 {
                    break;
                }
                k += 16;
                continue;
            }
            k += run + 1;
            if k > 64 {
                return Err(JoinError::Corrupt("coefficient past the block".into()));
            }
            self.pos += size as u64;
        }
        if self.pos > self.end {
            return Err(JoinError::Corrupt("entropy-coded data ends early".into()));
        }
        Ok(())
    }
}

/// T.81 F.2.2.1: the value of `bits` read as an `s`-bit difference.
fn extend(bits: u32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if bits < 1 << (s - 1) {
        bits as i32 - (1 << s) + 1
    } else {
        bits as i32
    }
}

/// Writes entropy-coded data, stuffing `FF 00`, 64 bits at a time.
pub struct BitWriter {
    pub out: Vec<u8>,
    acc: u64,
    /// Bits of `acc` not yet used, 1..=64.
    free: u32,
}

impl BitWriter {
    pub fn new(out: Vec<u8>) -> BitWriter {
        BitWriter {
            out,
            acc: 0,
            free: 64,
        }
    }

    /// Appends the low `n` (≤ 32) bits of `value`, which holds no higher bits.
    #[inline]
    fn put(&mut self, value: u32, n: u32) {
        if n < self.free {
            self.acc = (self.acc << n) | value as u64;
            self.free -= n;
            return;
        }
        let rest = n - self.free;
        let word = (self.acc << self.free) | (value as u64 >> rest);
        self.word(word);
        self.acc = value as u64 & ((1u64 << rest) - 1);
        self.free = 64 - rest;
    }

    /// Writes 8 bytes, stuffing a zero after any `FF`.
    #[inline]
    fn word(&mut self, word: u64) {
        // A zero byte in !word is an FF byte in word.
        let inverted = !word;
        let has_ff =
            inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080;
        if has_ff == 0 {
            self.out.extend_from_slice(&word.to_be_bytes());
        } else {
            for byte in word.to_be_bytes() {
                self.out.push(byte);
                if byte == 0xFF {
                    self.out.push(0);
                }
            }
        }
    }

    /// Writes the DC difference `diff` with `table`.
    pub fn dc(&mut self, table: &HuffmanTable, diff: i32) -> Result<(), JoinError> {
        let (s, bits) = category(diff);
        let (code, len) = table.codes[s as usize];
        if len == 0 || s > 11 {
            return Err(JoinError::Unsupported(
                "a DC difference the tiles' table cannot code".into(),
            ));
        }
        self.put((code as u32) << s | bits, len as u32 + s);
        Ok(())
    }

    /// Copies bits `from..to` of destuffed `data`.
    pub fn copy(&mut self, data: &[u8], mut from: u64, to: u64) {
        while from < to {
            let n = (to - from).min(32) as u32;
            self.put(bits32(data, from) >> (32 - n), n);
            from += n as u64;
        }
    }

    /// Pads the last byte with one bits and returns the data.
    pub fn finish(mut self) -> Vec<u8> {
        let used = 64 - self.free;
        let pad = (8 - used % 8) % 8;
        let acc = (self.acc << pad) | ((1u64 << pad) - 1);
        for i in (0..(used + pad) / 8).rev() {
            let byte = (acc >> (8 * i)) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0);
            }
        }
        self.out
    }
}

/// T.81 F.1.2.1: the size category of `v` and its low bits as written.
fn category(v: i32) -> (u32, u32) {
    let s = 32 - v.unsigned_abs().leading_zeros();
    let bits = if v < 0 { v - 1 } else { v } as u32 & ((1u32 << s) - 1);
    (s, bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dc_differences_and_copied_bits_read_back() {
        let table = HuffmanTable::standard_dc();
        let mut w = BitWriter::new(Vec::new());
        let diffs = [0, 1, -1, 2047, -2047, 300, -5];
        for &d in &diffs {
            w.dc(&table, d).unwrap();
        }
        // Bits that stuff: runs of ones across byte and word boundaries.
        let ones = [0xFFu8; 9];
        w.copy(&ones, 3, 3 + 67);
        let stuffed = w.finish();
        let data = destuff(&stuffed);
        assert_eq!(data.segments, vec![0]);
        let mut r = BitReader::new(&data.data);
        let mut p = 0;
        for &d in &diffs {
            let before = p;
            r.dc(&table, &mut p).unwrap();
            assert_eq!(p - before, d);
        }
        for _ in 0..67 {
            assert_eq!(r.take(1), 1);
        }
        assert!(stuffed.windows(2).all(|w| w[0] != 0xFF || w[1] == 0));
    }

    #[test]
    fn destuffing_splits_at_restart_markers_and_stops_at_others() {
        let d = destuff(&[
            1, 0xFF, 0, 2, 0xFF, 0xD0, 3, 0xFF, 0xFF, 0xD1, 4, 0xFF, 0xD9, 5,
        ]);
        assert_eq!(d.data, vec![1, 0xFF, 2, 3, 4]);
        assert_eq!(d.segments, vec![0, 24, 32]);
    }

    #[test]
    fn destuffing_in_pieces_reads_markers_split_between_them() {
        let scan = [
            1, 0xFF, 0, 2, 0xFF, 0xD0, 3, 0xFF, 0xFF, 0xD1, 4, 0xFF, 0xD9, 5,
        ];
        for cut in 0..scan.len() {
            let mut out = Destuffed {
                data: Vec::new(),
                segments: vec![0],
            };
            let mut d = Destuffer::default();
            let ended = d.feed(&scan[..cut], &mut out) | d.feed(&scan[cut..], &mut out);
            assert!(ended, "cut at {cut}");
            assert_eq!(out.data, vec![1, 0xFF, 2, 3, 4], "cut at {cut}");
            assert_eq!(out.segments, vec![0, 24, 32], "cut at {cut}");
        }
    }

    #[test]
    fn categories_follow_the_standard() {
        assert_eq!(category(0), (0, 0));
        assert_eq!(category(1), (1, 1));
        assert_eq!(category(-1), (1, 0));
        assert_eq!(category(-3), (2, 0));
        assert_eq!(category(1023), (10, 1023));
        for v in -2047..=2047 {
            let (s, bits) = category(v);
            assert_eq!(extend(bits, s), v);
        }
    }
}
