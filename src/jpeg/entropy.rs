//! Huffman coding of quantized DCT blocks (ITU T.81, F.1.2 and F.2.2): reading a scan's
//! blocks as coefficients and writing them back, with byte stuffing and restart markers.

use super::JoinError;

/// One block's 64 quantized coefficients in zigzag order; `[0]` is the absolute DC value.
pub type Block = [i16; 64];

/// Codes looked up in one step: most symbols of photographic data are this short or shorter.
const LOOKUP_BITS: u32 = 9;

/// A Huffman table for decoding and for encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuffmanTable {
    /// Top `LOOKUP_BITS` bits → (code length, symbol); length 0 when the code is longer.
    lookup: Vec<(u8, u8)>,
    /// Largest code of each length 1..=16 (-1 when none), and where its symbols start.
    max_code: [i32; 17],
    offset: [i32; 17],
    values: Vec<u8>,
    /// Symbol → (code, length); length 0 when the table has no code for it.
    codes: Vec<(u16, u8)>,
}

impl HuffmanTable {
    /// Builds a table from a DHT's code counts per length and its symbols.
    pub fn new(counts: &[u8; 16], values: &[u8]) -> Result<HuffmanTable, JoinError> {
        let mut lookup = vec![(0u8, 0u8); 1 << LOOKUP_BITS];
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        let mut codes = vec![(0u16, 0u8); 256];
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
            values: values[..k].to_vec(),
            codes,
        })
    }

    /// Table K.3 (luminance DC) or K.5 (chrominance DC) of T.81.
    pub fn standard_dc(chroma: bool) -> HuffmanTable {
        let (counts, values) = if chroma {
            (STD_DC_CHROMA_COUNTS, &STD_DC_VALUES)
        } else {
            (STD_DC_LUMA_COUNTS, &STD_DC_VALUES)
        };
        HuffmanTable::new(&counts, values).expect("the standard tables are well formed")
    }

    /// Table K.5 (luminance AC) or K.6 (chrominance AC) of T.81.
    pub fn standard_ac(chroma: bool) -> HuffmanTable {
        let (counts, values) = if chroma {
            (STD_AC_CHROMA_COUNTS, &STD_AC_CHROMA_VALUES[..])
        } else {
            (STD_AC_LUMA_COUNTS, &STD_AC_LUMA_VALUES[..])
        };
        HuffmanTable::new(&counts, values).expect("the standard tables are well formed")
    }

    /// The DHT body of this table in slot `class << 4 | id`.
    pub fn dht(&self, class_and_id: u8) -> Vec<u8> {
        let mut counts = [0u8; 16];
        for &v in &self.values {
            let len = self.codes[v as usize].1;
            counts[len as usize - 1] += 1;
        }
        let mut out = vec![class_and_id];
        out.extend_from_slice(&counts);
        out.extend_from_slice(&self.values);
        out
    }
}

/// Reads bits of entropy-coded data, un-stuffing `FF 00` and stopping at markers.
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    bits: u32,
    /// Zero bits appended past a marker or the end; reading into them means the data is short.
    fake: u32,
    at_marker: bool,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader {
            data,
            pos: 0,
            acc: 0,
            bits: 0,
            fake: 0,
            at_marker: false,
        }
    }

    fn fill(&mut self) {
        while self.bits <= 56 {
            let mut byte = 0u8;
            if !self.at_marker {
                match self.data.get(self.pos) {
                    Some(&0xFF) if self.data.get(self.pos + 1) == Some(&0) => {
                        byte = 0xFF;
                        self.pos += 2;
                    }
                    Some(&0xFF) | None => self.at_marker = true,
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                }
            }
            if self.at_marker {
                self.fake += 8;
            }
            self.acc |= (byte as u64) << (56 - self.bits);
            self.bits += 8;
        }
    }

    fn consume(&mut self, n: u32) -> Result<(), JoinError> {
        self.acc <<= n;
        self.bits -= n;
        if self.bits < self.fake {
            return Err(JoinError::Corrupt("entropy-coded data ends early".into()));
        }
        Ok(())
    }

    fn peek(&mut self, n: u32) -> u32 {
        if self.bits < n {
            self.fill();
        }
        (self.acc >> (64 - n)) as u32
    }

    /// `n` (≤ 16) raw bits.
    fn take(&mut self, n: u32) -> Result<u32, JoinError> {
        if n == 0 {
            return Ok(0);
        }
        let v = self.peek(n);
        self.consume(n)?;
        Ok(v)
    }

    fn symbol(&mut self, table: &HuffmanTable) -> Result<u8, JoinError> {
        let (len, symbol) = table.lookup[self.peek(LOOKUP_BITS) as usize];
        if len > 0 {
            self.consume(len as u32)?;
            return Ok(symbol);
        }
        let code = self.peek(16) as i32;
        for len in LOOKUP_BITS + 1..=16 {
            let c = code >> (16 - len);
            if c <= table.max_code[len as usize] {
                self.consume(len)?;
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

    /// Reads one block, `predictor` holding the component's previous DC value.
    pub fn block(
        &mut self,
        dc: &HuffmanTable,
        ac: &HuffmanTable,
        predictor: &mut i32,
        out: &mut Block,
    ) -> Result<(), JoinError> {
        *out = [0; 64];
        let s = self.symbol(dc)? as u32;
        if s > 11 {
            return Err(JoinError::Corrupt("DC difference too large".into()));
        }
        *predictor += extend(self.take(s)?, s);
        out[0] = i16::try_from(*predictor)
            .map_err(|_| JoinError::Corrupt("DC value out of range".into()))?;
        let mut k = 1usize;
        while k < 64 {
            let rs = self.symbol(ac)?;
            let (run, size) = ((rs >> 4) as usize, (rs & 15) as u32);
            if size == 0 {
                if run == 15 {
                    k += 16;
                    continue;
                }
                break;
            }
            k += run;
            if k > 63 || size > 15 {
                return Err(JoinError::Corrupt("coefficient past the block".into()));
            }
            out[k] = extend(self.take(size)?, size) as i16;
            k += 1;
        }
        Ok(())
    }

    /// Skips to the restart marker that must come next and past it.
    pub fn restart(&mut self) -> Result<(), JoinError> {
        // What is left in the accumulator is the last byte's padding.
        self.acc = 0;
        self.bits = 0;
        self.fake = 0;
        self.at_marker = false;
        match self.data.get(self.pos..self.pos + 2) {
            Some(&[0xFF, m]) if (0xD0..=0xD7).contains(&m) => {
                self.pos += 2;
                Ok(())
            }
            _ => Err(JoinError::Corrupt("restart marker missing".into())),
        }
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

/// Writes entropy-coded data, stuffing `FF 00`.
pub struct BitWriter {
    pub out: Vec<u8>,
    acc: u64,
    bits: u32,
}

impl BitWriter {
    pub fn new(out: Vec<u8>) -> BitWriter {
        BitWriter {
            out,
            acc: 0,
            bits: 0,
        }
    }

    fn put(&mut self, value: u32, n: u32) {
        if n == 0 {
            return;
        }
        self.acc = (self.acc << n) | (value as u64 & ((1 << n) - 1));
        self.bits += n;
        while self.bits >= 8 {
            let byte = (self.acc >> (self.bits - 8)) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0);
            }
            self.bits -= 8;
        }
    }

    fn code(&mut self, table: &HuffmanTable, symbol: u8) -> Result<(), JoinError> {
        let (code, len) = table.codes[symbol as usize];
        if len == 0 {
            return Err(JoinError::Unsupported(
                "a coefficient the output tables cannot code".into(),
            ));
        }
        self.put(code as u32, len as u32);
        Ok(())
    }

    /// Writes one block, `predictor` holding the component's previous DC value.
    pub fn block(
        &mut self,
        dc: &HuffmanTable,
        ac: &HuffmanTable,
        predictor: &mut i32,
        block: &Block,
    ) -> Result<(), JoinError> {
        let diff = block[0] as i32 - *predictor;
        *predictor = block[0] as i32;
        let (s, bits) = category(diff);
        self.code(dc, s as u8)?;
        self.put(bits, s);
        let mut run = 0u8;
        for &v in &block[1..] {
            if v == 0 {
                run += 1;
                continue;
            }
            while run > 15 {
                self.code(ac, 0xF0)?;
                run -= 16;
            }
            let (s, bits) = category(v as i32);
            self.code(ac, (run << 4) | s as u8)?;
            self.put(bits, s);
            run = 0;
        }
        if run > 0 {
            self.code(ac, 0x00)?;
        }
        Ok(())
    }

    /// Pads the last byte with one bits and returns the data.
    pub fn finish(mut self) -> Vec<u8> {
        let pad = (8 - self.bits % 8) % 8;
        self.put((1 << pad) - 1, pad);
        self.out
    }
}

/// T.81 F.1.2.1: the size category of `v` and its low bits as written.
fn category(v: i32) -> (u32, u32) {
    let s = 32 - v.unsigned_abs().leading_zeros();
    let bits = if v < 0 { v - 1 } else { v } as u32 & ((1u32 << s) - 1);
    (s, bits)
}

const STD_DC_LUMA_COUNTS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const STD_DC_CHROMA_COUNTS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const STD_DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const STD_AC_LUMA_COUNTS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const STD_AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];
const STD_AC_CHROMA_COUNTS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const STD_AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_through_the_standard_tables() {
        let (dc, ac) = (
            HuffmanTable::standard_dc(false),
            HuffmanTable::standard_ac(false),
        );
        let mut blocks = vec![[0i16; 64]; 4];
        blocks[0][0] = -1024;
        blocks[0][1] = 1023;
        blocks[0][63] = -1;
        blocks[1][0] = 1023;
        blocks[1][20] = -700;
        blocks[2][0] = 5;
        blocks[3] = std::array::from_fn(|i| (i as i16 * 37 % 200) - 100);
        let mut w = BitWriter::new(Vec::new());
        let mut p = 0;
        for b in &blocks {
            w.block(&dc, &ac, &mut p, b).unwrap();
        }
        let data = w.finish();
        let mut r = BitReader::new(&data);
        let mut p = 0;
        for b in &blocks {
            let mut out = [0; 64];
            r.block(&dc, &ac, &mut p, &mut out).unwrap();
            assert_eq!(&out, b);
        }
        // Past the data: refused, not invented.
        let mut out = [0; 64];
        assert!((0..8).any(|_| r.block(&dc, &ac, &mut p, &mut out).is_err()));
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
