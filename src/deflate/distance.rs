//! A minimal DEFLATE (RFC 1951) reader that decodes nothing but the stream's structure: the
//! length of the data it stands for and the longest back-reference distance it uses.
//!
//! Tests use it to prove that a compressor honours a window size (every distance ≤ 2^bits, as
//! `server_max_window_bits` demands of the server), something no inflater checks on its own: an
//! inflater with a 32 KiB window happily decodes a stream that needed more than the peer agreed
//! to. `perf/deflate-bench` includes this same file to measure each backend. Self-contained (no
//! crate imports) so both can build it.

/// What [`scan`] found in a raw DEFLATE stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scan {
    /// Bytes the stream decodes to.
    pub len: usize,
    /// The longest back-reference distance used (0: none).
    pub max_distance: usize,
    /// Blocks read.
    pub blocks: usize,
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] =
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
const CLEN_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn left(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    fn get(&mut self, n: u32) -> Result<u32, &'static str> {
        let mut v = 0;
        for i in 0..n {
            let byte = *self.data.get(self.pos / 8).ok_or("stream ends early")?;
            v |= u32::from((byte >> (self.pos % 8)) & 1) << i;
            self.pos += 1;
        }
        Ok(v)
    }
}

/// A canonical Huffman code: symbols per length, symbols in code order.
struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Huffman {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[l as usize] += 1;
        }
        count[0] = 0;
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut symbol = vec![0u16; lengths.len()];
        for (s, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[offs[l as usize] as usize] = s as u16;
                offs[l as usize] += 1;
            }
        }
        Huffman { count, symbol }
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, &'static str> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.get(1)? as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                return Ok(self.symbol[(index + (code - first)) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("invalid Huffman code")
    }
}

/// Read a raw DEFLATE stream (as a WebSocket message is after `00 00 ff ff` is appended) up to
/// its last complete block, or its final block.
pub fn scan(data: &[u8]) -> Result<Scan, &'static str> {
    let mut bits = Bits { data, pos: 0 };
    let mut out = Scan::default();
    while bits.left() >= 3 {
        let last = bits.get(1)? == 1;
        match bits.get(2)? {
            0 => {
                bits.pos = bits.pos.div_ceil(8) * 8;
                let len = bits.get(16)?;
                if bits.get(16)? != !len & 0xffff {
                    return Err("stored block length check");
                }
                if bits.left() < len as usize * 8 {
                    return Err("stored block ends early");
                }
                bits.pos += len as usize * 8;
                out.len += len as usize;
            }
            1 => {
                let mut l = [8u8; 288];
                l[144..256].fill(9);
                l[256..280].fill(7);
                codes(&mut bits, &Huffman::new(&l), &Huffman::new(&[5; 30]), &mut out)?;
            }
            2 => {
                let (lit, dist) = dynamic_codes(&mut bits)?;
                codes(&mut bits, &lit, &dist, &mut out)?;
            }
            _ => return Err("reserved block type"),
        }
        out.blocks += 1;
        if last {
            break;
        }
    }
    Ok(out)
}

fn dynamic_codes(bits: &mut Bits<'_>) -> Result<(Huffman, Huffman), &'static str> {
    let nlen = bits.get(5)? as usize + 257;
    let ndist = bits.get(5)? as usize + 1;
    let ncode = bits.get(4)? as usize + 4;
    let mut cl = [0u8; 19];
    for &i in &CLEN_ORDER[..ncode] {
        cl[i] = bits.get(3)? as u8;
    }
    let clh = Huffman::new(&cl);
    let mut lengths = vec![0u8; nlen + ndist];
    let mut i = 0;
    while i < nlen + ndist {
        let sym = clh.decode(bits)?;
        let (value, repeat) = match sym {
            0..=15 => (sym as u8, 1),
            16 => {
                (*lengths.get(i.wrapping_sub(1)).ok_or("repeat with no length")?, 3 + bits.get(2)?)
            }
            17 => (0, 3 + bits.get(3)?),
            _ => (0, 11 + bits.get(7)?),
        };
        for _ in 0..repeat {
            *lengths.get_mut(i).ok_or("too many lengths")? = value;
            i += 1;
        }
    }
    Ok((Huffman::new(&lengths[..nlen]), Huffman::new(&lengths[nlen..])))
}

fn codes(
    bits: &mut Bits<'_>,
    lit: &Huffman,
    dist: &Huffman,
    out: &mut Scan,
) -> Result<(), &'static str> {
    loop {
        let sym = lit.decode(bits)? as usize;
        match sym {
            0..=255 => out.len += 1,
            256 => return Ok(()),
            _ => {
                let i = sym - 257;
                let len = *LEN_BASE.get(i).ok_or("bad length symbol")? as usize
                    + bits.get(u32::from(LEN_EXTRA[i]))? as usize;
                let d = dist.decode(bits)? as usize;
                let distance = *DIST_BASE.get(d).ok_or("bad distance symbol")? as usize
                    + bits.get(u32::from(DIST_EXTRA[d]))? as usize;
                if distance > out.len {
                    return Err("distance before the start of the stream");
                }
                out.max_distance = out.max_distance.max(distance);
                out.len += len;
            }
        }
    }
}
