//! The header segments of a baseline JPEG stream: quantization and Huffman tables, the frame,
//! the restart interval and the one scan, read up to the first byte of entropy-coded data.

use super::JoinError;
use super::entropy::HuffmanTable;

/// One colour component of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    pub id: u8,
    /// Horizontal and vertical sampling factors.
    pub h: u8,
    pub v: u8,
    /// Quantization table selector.
    pub tq: u8,
}

/// A quantization table as stored: 8- or 16-bit precision, zigzag order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantTable {
    pub sixteen_bit: bool,
    pub values: [u16; 64],
}

/// What precedes a sequential JPEG's entropy-coded data.
#[derive(Debug, Clone)]
pub struct Header {
    pub width: u16,
    pub height: u16,
    pub components: Vec<Component>,
    pub quant: [Option<QuantTable>; 4],
    pub dc: [Option<HuffmanTable>; 4],
    pub ac: [Option<HuffmanTable>; 4],
    /// MCUs between restart markers; 0 for none.
    pub restart: u16,
    /// Per component of the scan, in frame order: (DC table, AC table).
    pub scan_tables: Vec<(u8, u8)>,
    /// APP0 (JFIF) and APP14 (Adobe) segments, markers included: how decoders tell YCbCr
    /// from RGB, carried into a joined stream.
    pub colour_segments: Vec<Vec<u8>>,
    /// Offset of the first byte of entropy-coded data.
    pub data: usize,
}

impl Header {
    pub fn max_sampling(&self) -> (u8, u8) {
        let h = self.components.iter().map(|c| c.h).max().unwrap_or(1);
        let v = self.components.iter().map(|c| c.v).max().unwrap_or(1);
        (h, v)
    }

    /// The quantization table each component uses, in frame order.
    pub fn component_quant(&self) -> Vec<Option<&QuantTable>> {
        self.components
            .iter()
            .map(|c| self.quant[c.tq as usize & 3].as_ref())
            .collect()
    }
}

fn unsupported(what: &str) -> JoinError {
    JoinError::Unsupported(what.to_string())
}

fn corrupt(what: &str) -> JoinError {
    JoinError::Corrupt(what.to_string())
}

/// Reads the segments of `stream` up to and including the start of scan.
pub fn parse(stream: &[u8]) -> Result<Header, JoinError> {
    if stream.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(corrupt("no start of image"));
    }
    let mut header = Header {
        width: 0,
        height: 0,
        components: Vec::new(),
        quant: Default::default(),
        dc: Default::default(),
        ac: Default::default(),
        restart: 0,
        scan_tables: Vec::new(),
        colour_segments: Vec::new(),
        data: 0,
    };
    let mut pos = 2;
    loop {
        // Fill bytes (0xFF runs) may precede a marker.
        while stream.get(pos) == Some(&0xFF) && stream.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (stream.get(pos), stream.get(pos + 1)) else {
            return Err(corrupt("expected a marker"));
        };
        pos += 2;
        if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
            continue;
        }
        if marker == 0xD9 {
            return Err(corrupt("image ends before its scan"));
        }
        let len = match stream.get(pos..pos + 2) {
            Some(b) => u16::from_be_bytes([b[0], b[1]]) as usize,
            None => return Err(corrupt("segment length cut off")),
        };
        let body = stream
            .get(pos + 2..pos + len)
            .filter(|_| len >= 2)
            .ok_or_else(|| corrupt("segment cut off"))?;
        match marker {
            0xDB => read_quant(body, &mut header.quant)?,
            0xC4 => read_huffman(body, &mut header)?,
            0xC0 | 0xC1 => read_frame(body, &mut header)?,
            0xC2 | 0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(unsupported("not a sequential Huffman JPEG"));
            }
            0xDD => {
                let b = body.get(..2).ok_or_else(|| corrupt("short DRI"))?;
                header.restart = u16::from_be_bytes([b[0], b[1]]);
            }
            0xE0 | 0xEE => header
                .colour_segments
                .push(stream[pos - 2..pos + len].to_vec()),
            0xDA => {
                read_scan(body, &mut header)?;
                header.data = pos + len;
                return Ok(header);
            }
            _ => {}
        }
        pos += len;
    }
}

fn read_quant(mut body: &[u8], quant: &mut [Option<QuantTable>; 4]) -> Result<(), JoinError> {
    while let Some((&pq_tq, rest)) = body.split_first() {
        let sixteen_bit = pq_tq >> 4 == 1;
        let size = if sixteen_bit { 128 } else { 64 };
        let raw = rest.get(..size).ok_or_else(|| corrupt("short DQT"))?;
        let mut values = [0u16; 64];
        for (i, v) in values.iter_mut().enumerate() {
            *v = if sixteen_bit {
                u16::from_be_bytes([raw[2 * i], raw[2 * i + 1]])
            } else {
                raw[i] as u16
            };
        }
        quant[(pq_tq & 3) as usize] = Some(QuantTable {
            sixteen_bit,
            values,
        });
        body = &rest[size..];
    }
    Ok(())
}

fn read_huffman(mut body: &[u8], header: &mut Header) -> Result<(), JoinError> {
    while let Some((&tc_th, rest)) = body.split_first() {
        let counts: [u8; 16] = rest
            .get(..16)
            .and_then(|c| c.try_into().ok())
            .ok_or_else(|| corrupt("short DHT"))?;
        let n: usize = counts.iter().map(|&c| c as usize).sum();
        let values = rest.get(16..16 + n).ok_or_else(|| corrupt("short DHT"))?;
        let table = HuffmanTable::new(&counts, values)?;
        let slot = (tc_th & 3) as usize;
        match tc_th >> 4 {
            0 => header.dc[slot] = Some(table),
            1 => header.ac[slot] = Some(table),
            _ => return Err(corrupt("bad Huffman table class")),
        }
        body = &rest[16 + n..];
    }
    Ok(())
}

fn read_frame(body: &[u8], header: &mut Header) -> Result<(), JoinError> {
    let b = body.get(..6).ok_or_else(|| corrupt("short SOF"))?;
    if b[0] != 8 {
        return Err(unsupported("not 8 bits a sample"));
    }
    header.height = u16::from_be_bytes([b[1], b[2]]);
    header.width = u16::from_be_bytes([b[3], b[4]]);
    let n = b[5] as usize;
    if !(1..=4).contains(&n) {
        return Err(unsupported("component count"));
    }
    let comps = body.get(6..6 + 3 * n).ok_or_else(|| corrupt("short SOF"))?;
    header.components = comps
        .chunks_exact(3)
        .map(|c| Component {
            id: c[0],
            h: c[1] >> 4,
            v: c[1] & 15,
            tq: c[2] & 3,
        })
        .collect();
    if header
        .components
        .iter()
        .any(|c| !(1..=4).contains(&c.h) || !(1..=4).contains(&c.v))
    {
        return Err(corrupt("bad sampling factors"));
    }
    Ok(())
}

fn read_scan(body: &[u8], header: &mut Header) -> Result<(), JoinError> {
    let n = *body.first().ok_or_else(|| corrupt("short SOS"))? as usize;
    if n != header.components.len() || header.components.is_empty() {
        return Err(unsupported("a scan that is not all components interleaved"));
    }
    let sel = body
        .get(1..1 + 2 * n + 3)
        .ok_or_else(|| corrupt("short SOS"))?;
    // Blocks follow the scan's order: the join writes them in frame order.
    let mut tables = Vec::with_capacity(n);
    for (pair, c) in sel[..2 * n].chunks_exact(2).zip(&header.components) {
        if pair[0] != c.id {
            return Err(unsupported("a scan in another order than the frame"));
        }
        tables.push((pair[1] >> 4 & 3, pair[1] & 3));
    }
    if sel[2 * n..] != [0, 63, 0] {
        return Err(unsupported(
            "spectral selection or successive approximation",
        ));
    }
    header.scan_tables = tables;
    Ok(())
}
