//! The fast path for blocks where deflate's match search finds next to
//! nothing (base64 blobs, certificates, already-compressed files): zlib
//! spends most of its time there searching in vain, and then writes the
//! bytes as Huffman-coded literals anyway. Here a cheap LZ4-style probe
//! decides, and such a block is written directly as one dynamic-Huffman
//! block of literals and runs of one repeated byte (distance-1 matches:
//! tar's zero padding and headers), or stored blocks when that is smaller.
//!
//! Pure functions of the bytes: the output never depends on the machine.

/// Matches shorter than this are not worth a deflate match on such data,
/// and long enough that chance hits in random text are negligible.
const PROBE_MATCH: usize = 6;
/// Deflate's window: matches reach no further back.
const WINDOW: usize = 32 * 1024;
const PROBE_BITS: u32 = 15;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;

/// Whether fewer than 1/64 of `data`'s bytes lie in matches of
/// [`PROBE_MATCH`] bytes or more within deflate's window (`dict` is the
/// text before `data`), runs of one byte aside. Then literals alone cost at most about that share
/// more than what deflate would find. `table` is scratch space, reused.
pub fn few_matches(dict: &[u8], data: &[u8], buf: &mut Vec<u8>, table: &mut Vec<u32>) -> bool {
    buf.clear();
    buf.extend_from_slice(dict);
    buf.extend_from_slice(data);
    table.clear();
    table.resize(1 << PROBE_BITS, 0);
    let start = dict.len();
    let limit = data.len() / 64;
    let mut matched = 0usize;
    let mut pos = 0usize;
    // LZ4's acceleration: the longer nothing matches, the bigger the
    // stride, so noise is crossed quickly; a hit resets it.
    let mut misses = 0usize;
    while pos + PROBE_MATCH <= buf.len() {
        // Runs of one byte cost the encoder nothing either way.
        if pos > 0 && buf[pos] == buf[pos - 1] {
            let run = run_length(buf, pos, buf.len());
            if run >= MIN_MATCH {
                pos += run;
                continue;
            }
        }
        let v = read_u32(buf, pos);
        let h = hash(v);
        // Positions are stored + 1 so 0 means empty.
        let cand = table[h] as usize;
        table[h] = (pos + 1) as u32;
        if cand > 0 && pos - (cand - 1) <= WINDOW && read_u32(buf, cand - 1) == v {
            let c = cand - 1;
            let len = common_prefix(&buf[c..], &buf[pos..], MAX_MATCH);
            if len >= PROBE_MATCH {
                if pos >= start {
                    matched += len;
                    if matched > limit {
                        return false;
                    }
                }
                misses = 0;
                pos += len;
                continue;
            }
        }
        misses += 1;
        pos += 1 + (misses >> 6);
    }
    true
}

fn run_length(buf: &[u8], pos: usize, end: usize) -> usize {
    let b = buf[pos - 1];
    buf[pos..end.min(pos + MAX_MATCH)]
        .iter()
        .take_while(|&&x| x == b)
        .count()
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn hash(v: u32) -> usize {
    (v.wrapping_mul(2_654_435_761) >> (32 - PROBE_BITS)) as usize
}

fn common_prefix(a: &[u8], b: &[u8], max: usize) -> usize {
    a.iter()
        .zip(b)
        .take(max)
        .take_while(|(x, y)| x == y)
        .count()
}

/// One symbol of the literal-and-runs encoding.
enum Token {
    Literal(u8),
    /// A distance-1 match of this length (3..=258).
    Run(usize),
}

/// The block as literals and runs: the same pure scan feeds both the
/// frequency count and the writer.
fn tokens(data: &[u8]) -> impl Iterator<Item = Token> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        if pos > 0 && data[pos] == data[pos - 1] {
            let run = run_length(data, pos, data.len());
            if run >= MIN_MATCH {
                pos += run;
                return Some(Token::Run(run));
            }
        }
        pos += 1;
        Some(Token::Literal(data[pos - 1]))
    })
}

/// Deflate's length codes 257..=285: base lengths and extra bits.
const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];

/// Index into [`LEN_BASE`] for a match length (258 has its own code).
fn length_code(len: usize) -> usize {
    LEN_BASE
        .iter()
        .rposition(|&b| usize::from(b) <= len)
        .unwrap_or(0)
}

/// Append `data` to `out` as deflate: one dynamic-Huffman block
/// of literals and distance-1 runs, or stored blocks if those are smaller.
/// `last` sets BFINAL; otherwise the output ends on a byte boundary with
/// BFINAL clear (an empty stored block, as zlib's sync flush), so the next
/// piece can follow.
pub fn encode(data: &[u8], last: bool, out: &mut Vec<u8>) {
    if data.is_empty() {
        // Stored blocks below would write no block at all, and a final
        // stream would lack its BFINAL block: one empty stored block.
        out.extend_from_slice(&[u8::from(last), 0, 0, 0xff, 0xff]);
        return;
    }
    let mut freq = [0u32; 286];
    let mut extra_total = 0u64;
    for t in tokens(data) {
        match t {
            Token::Literal(b) => freq[usize::from(b)] += 1,
            Token::Run(n) => {
                let c = length_code(n);
                freq[257 + c] += 1;
                // The length's extra bits, and one bit for distance code 0.
                extra_total += u64::from(LEN_EXTRA[c]) + 1;
            }
        }
    }
    freq[256] = 1;
    let nlit = freq
        .iter()
        .rposition(|&f| f > 0)
        .map_or(257, |i| i + 1)
        .max(257);
    let lit_len = code_lengths(&freq[..nlit], 15);
    let (lit_rle, lit_cl_freq) = rle(&lit_len);
    // Two one-bit distance codes: a complete code (as zlib writes it);
    // only code 0 (distance 1) is used.
    let dist_len = [1u8, 1];
    let (dist_rle, dist_cl_freq) = rle(&dist_len);
    let mut cl_freq = [0u32; 19];
    for (i, f) in cl_freq.iter_mut().enumerate() {
        *f = lit_cl_freq[i] + dist_cl_freq[i];
    }
    let cl_len = code_lengths(&cl_freq, 7);
    let hclen = (4..=19)
        .rev()
        .find(|&n| cl_len[CL_ORDER[n - 1]] != 0)
        .unwrap_or(4)
        .max(4);

    let rle_bits: u64 = lit_rle
        .iter()
        .chain(&dist_rle)
        .map(|&(s, _)| u64::from(cl_len[usize::from(s)]) + u64::from(extra_bits(s)))
        .sum();
    let data_bits: u64 = freq[..nlit]
        .iter()
        .zip(&lit_len)
        .map(|(&f, &l)| u64::from(f) * u64::from(l))
        .sum::<u64>()
        + extra_total;
    let huffman_bits = 3 + 14 + 3 * hclen as u64 + rle_bits + data_bits;
    let stored_bits = 8 * (data.len() as u64 + 5 * data.len().div_ceil(65_535) as u64);

    let mut w = Bits::new(out);
    if stored_bits < huffman_bits + 8 {
        // Stored blocks end byte-aligned: no sync marker needed.
        let chunks = data.len().div_ceil(65_535);
        for (i, chunk) in data.chunks(65_535).enumerate() {
            let fin = last && i + 1 == chunks;
            w.put(u32::from(fin), 3);
            w.align();
            let n = chunk.len() as u16;
            w.bytes(&n.to_le_bytes());
            w.bytes(&(!n).to_le_bytes());
            w.bytes(chunk);
        }
        return;
    }

    let lit_codes = canonical(&lit_len);
    let cl_codes = canonical(&cl_len);
    w.put(u32::from(last), 1);
    w.put(2, 2);
    w.put((nlit - 257) as u32, 5); // HLIT
    w.put(1, 5); // HDIST: 2 distance codes
    w.put((hclen - 4) as u32, 4);
    for &sym in &CL_ORDER[..hclen] {
        w.put(u32::from(cl_len[sym]), 3);
    }
    for &(s, extra) in lit_rle.iter().chain(&dist_rle) {
        let s = usize::from(s);
        w.put(u32::from(cl_codes[s]), u32::from(cl_len[s]));
        let eb = extra_bits(s as u8);
        if eb > 0 {
            w.put(u32::from(extra), u32::from(eb));
        }
    }
    let table: Vec<(u32, u32)> = lit_codes
        .iter()
        .zip(&lit_len)
        .map(|(&c, &l)| (u32::from(c), u32::from(l)))
        .collect();
    // Distance code 0 is the one-bit code 0.
    let dist_one = (0u32, 1u32);
    for t in tokens(data) {
        match t {
            Token::Literal(b) => {
                let (c, l) = table[usize::from(b)];
                w.put(c, l);
            }
            Token::Run(n) => {
                let c = length_code(n);
                let (code, l) = table[257 + c];
                w.put(code, l);
                if LEN_EXTRA[c] > 0 {
                    w.put(
                        (n - usize::from(LEN_BASE[c])) as u32,
                        u32::from(LEN_EXTRA[c]),
                    );
                }
                w.put(dist_one.0, dist_one.1);
            }
        }
    }
    w.put(table[256].0, table[256].1);
    if !last {
        // Empty stored block: BFINAL 0, BTYPE 00, align, LEN 0, NLEN ffff.
        w.put(0, 3);
        w.align();
        w.bytes(&[0, 0, 0xff, 0xff]);
    }
    w.align();
}

/// The order code-length code lengths are sent in (RFC 1951 3.2.7).
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

fn extra_bits(sym: u8) -> u8 {
    match sym {
        16 => 2,
        17 => 3,
        18 => 7,
        _ => 0,
    }
}

/// Code lengths as code-length symbols with their extra-bit values
/// (16: repeat previous 3-6, 17: zeros 3-10, 18: zeros 11-138), and the
/// symbols' frequencies.
fn rle(lens: &[u8]) -> (Vec<(u8, u8)>, [u32; 19]) {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lens.len() {
        let l = lens[i];
        let mut run = lens[i..].iter().take_while(|&&x| x == l).count();
        i += run;
        if l == 0 {
            while run >= 11 {
                let n = run.min(138);
                out.push((18, (n - 11) as u8));
                run -= n;
            }
            if run >= 3 {
                out.push((17, (run - 3) as u8));
                run = 0;
            }
        } else {
            out.push((l, 0));
            run -= 1;
            while run >= 3 {
                let n = run.min(6);
                out.push((16, (n - 3) as u8));
                run -= n;
            }
        }
        out.extend(std::iter::repeat_n((l, 0), run));
    }
    let mut freq = [0u32; 19];
    for &(s, _) in &out {
        freq[usize::from(s)] += 1;
    }
    (out, freq)
}

/// Huffman code lengths no longer than `limit`: a complete code over the
/// symbols with a frequency (two at least, as deflate wants). Frequencies
/// are halved until the tree is shallow enough (rarely needed).
fn code_lengths(freq: &[u32], limit: u8) -> Vec<u8> {
    let mut f = freq.to_vec();
    loop {
        let lens = huffman(&f);
        if lens.iter().all(|&l| l <= limit) {
            return lens;
        }
        for x in f.iter_mut().filter(|x| **x > 0) {
            *x = x.div_ceil(2);
        }
    }
}

fn huffman(freq: &[u32]) -> Vec<u8> {
    let mut lens = vec![0u8; freq.len()];
    let mut leaves: Vec<(u64, usize)> = freq
        .iter()
        .enumerate()
        .filter(|(_, &f)| f > 0)
        .map(|(s, &f)| (u64::from(f), s))
        .collect();
    if leaves.len() < 2 {
        // One symbol still needs a one-bit code, and the code must be
        // complete: pair it with a second, unused symbol.
        let s = leaves.first().map_or(0, |l| l.1);
        lens[s] = 1;
        lens[if s == 0 { 1 } else { 0 }] = 1;
        return lens;
    }
    leaves.sort_unstable();
    // Two-queue construction: leaves in order, internal nodes as made.
    // parent[] indexes nodes: leaves 0..n, internal n..2n-1.
    let n = leaves.len();
    let mut parent = vec![0usize; 2 * n - 1];
    let mut internal: Vec<u64> = Vec::with_capacity(n - 1);
    let (mut li, mut ii) = (0usize, 0usize);
    for k in 0..n - 1 {
        let mut pick = || {
            if li < n && (ii >= internal.len() || leaves[li].0 <= internal[ii]) {
                li += 1;
                (leaves[li - 1].0, li - 1)
            } else {
                ii += 1;
                (internal[ii - 1], n + ii - 1)
            }
        };
        let (fa, a) = pick();
        let (fb, b) = pick();
        parent[a] = n + k;
        parent[b] = n + k;
        internal.push(fa + fb);
    }
    // Depths top-down: the root is the last node; parents come after
    // their children.
    let mut depth = vec![0u8; 2 * n - 1];
    for node in (0..2 * n - 2).rev() {
        depth[node] = depth[parent[node]] + 1;
    }
    for (i, &(_, s)) in leaves.iter().enumerate() {
        lens[s] = depth[i];
    }
    lens
}

/// Canonical codes for `lens` (RFC 1951 3.2.2), bit-reversed because
/// deflate packs Huffman codes starting from their most significant bit.
fn canonical(lens: &[u8]) -> Vec<u16> {
    let mut count = [0u16; 16];
    for &l in lens {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lens.iter()
        .map(|&l| {
            if l == 0 {
                return 0;
            }
            let c = next[usize::from(l)];
            next[usize::from(l)] += 1;
            c.reverse_bits() >> (16 - l)
        })
        .collect()
}

/// LSB-first bit packing, as deflate wants.
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl<'a> Bits<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Bits { out, acc: 0, n: 0 }
    }

    /// At most 16 bits at a time.
    fn put(&mut self, v: u32, bits: u32) {
        self.acc |= u64::from(v) << self.n;
        self.n += bits;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    fn align(&mut self) {
        while self.n > 0 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n = self.n.saturating_sub(8);
        }
        self.acc = 0;
    }

    /// Only when aligned.
    fn bytes(&mut self, b: &[u8]) {
        debug_assert_eq!(self.n, 0);
        self.out.extend_from_slice(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::chart::pargz::tests::{base64ish, decoded, noise};

    fn inflate(d: &[u8]) -> Vec<u8> {
        decoded(flate2::read::DeflateDecoder::new(d))
    }

    #[test]
    fn literal_blocks_round_trip() {
        let cases: Vec<Vec<u8>> = vec![
            vec![7],
            vec![0; 10],
            b"ab".to_vec(),
            base64ish(100_000, 1),
            noise(70_000, 2, 256), // incompressible: stored
            noise(50_000, 3, 3),
            // Runs of every length around the code boundaries, between noise.
            (3..300usize)
                .flat_map(|n| {
                    let mut v = noise(5, n as u64, 256);
                    v.extend(std::iter::repeat_n((n % 7) as u8, n));
                    v
                })
                .collect(),
            vec![0; 100_000],
            // A skewed distribution that needs the 15-bit limit.
            (0..40u32)
                .flat_map(|i| std::iter::repeat_n(i as u8, 1 << (i / 2).min(18)))
                .take(300_000)
                .collect(),
        ];
        for (i, data) in cases.iter().enumerate() {
            for last in [true, false] {
                let mut out = Vec::new();
                encode(data, last, &mut out);
                if !last {
                    // Close the stream so a decoder can finish.
                    out.extend_from_slice(&[3, 0]);
                }
                assert_eq!(&inflate(&out), data, "case {i} last {last}");
            }
        }
    }

    #[test]
    fn literal_blocks_chain_into_zlib_pieces() {
        let a = base64ish(5000, 9);
        let mut out = Vec::new();
        encode(&a, false, &mut out);
        encode(&a[..100], false, &mut out);
        encode(&noise(70_000, 4, 256), false, &mut out);
        let mut c = flate2::Compress::new(flate2::Compression::default(), false);
        c.compress_vec(b"tail", &mut out, flate2::FlushCompress::Finish)
            .expect("deflate");
        let mut want = a.clone();
        want.extend_from_slice(&a[..100]);
        want.extend_from_slice(&noise(70_000, 4, 256));
        want.extend_from_slice(b"tail");
        assert_eq!(inflate(&out), want);
    }

    #[test]
    fn empty_input_is_still_a_block() {
        let mut out = Vec::new();
        encode(&[], true, &mut out);
        assert_eq!(inflate(&out), b"");
        let mut out = Vec::new();
        encode(&[], false, &mut out);
        encode(b"abc", true, &mut out);
        assert_eq!(inflate(&out), b"abc");
    }

    /// Many seeds, sizes around the stored-block limit and the run-length
    /// code boundaries, and alphabets from one byte (all runs) to 256 (all
    /// stored): every piece, final or not, chained after the others,
    /// inflates to its input.
    #[test]
    fn fuzz_round_trip_through_flate2() {
        let sizes = [
            1usize, 2, 3, 4, 5, 257, 258, 259, 260, 1000, 65_534, 65_535, 65_536, 65_537, 131_070,
            131_071, 131_072,
        ];
        let mut seed = 0u64;
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for &len in &sizes {
            for alphabet in [1usize, 2, 3, 17, 64, 200, 256] {
                seed += 1;
                let mut data = noise(len, seed, alphabet);
                // Runs of random lengths: distance-1 matches at random
                // places, also right at the start of the piece.
                let mut x = seed;
                let mut i = 0;
                while i < data.len() {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let run = (x >> 40) as usize % 300;
                    let at = i;
                    let end = (at + run).min(data.len());
                    let b = data[at];
                    data[at..end].fill(b);
                    i = end + (x >> 20) as usize % 500;
                }
                let mut alone = Vec::new();
                encode(&data, true, &mut alone);
                assert_eq!(inflate(&alone), data, "len {len} alphabet {alphabet}");
                encode(&data, false, &mut stream);
                want.extend_from_slice(&data);
            }
        }
        stream.extend_from_slice(&[3, 0]);
        assert!(inflate(&stream) == want, "chained pieces");
    }

    #[test]
    fn base64_costs_about_six_bits_a_byte() {
        let data = base64ish(128 * 1024, 5);
        let mut out = Vec::new();
        encode(&data, true, &mut out);
        let ratio = out.len() as f64 / data.len() as f64;
        assert!((0.74..0.77).contains(&ratio), "{ratio}");
    }

    #[test]
    fn code_lengths_are_limited_and_complete() {
        let fib: Vec<u32> = {
            let mut v = vec![1u32, 1];
            while v.len() < 30 {
                let n = v[v.len() - 1] + v[v.len() - 2];
                v.push(n);
            }
            v
        };
        for (freq, limit) in [(fib.clone(), 15u8), (fib[..19].to_vec(), 7)] {
            let lens = code_lengths(&freq, limit);
            assert!(lens.iter().all(|&l| (1..=limit).contains(&l)), "{lens:?}");
            let kraft: f64 = lens.iter().map(|&l| 0.5f64.powi(i32::from(l))).sum();
            assert!((kraft - 1.0).abs() < 1e-9, "complete code: {kraft}");
        }
        let one = code_lengths(&[0, 0, 5, 0], 7);
        assert_eq!(one, vec![1, 0, 1, 0]);
    }

    #[test]
    fn probe_tells_text_from_noise() {
        let (mut buf, mut table) = (Vec::new(), Vec::new());
        let b64 = base64ish(128 * 1024, 7);
        assert!(few_matches(&[], &b64, &mut buf, &mut table));
        assert!(few_matches(
            &[],
            &noise(128 * 1024, 8, 256),
            &mut buf,
            &mut table
        ));
        let yaml: Vec<u8> = (0..5000)
            .flat_map(|i| format!("  key{}: value-{}\n", i % 50, i % 7).into_bytes())
            .collect();
        assert!(!few_matches(&[], &yaml, &mut buf, &mut table));
        // A repeat of the dictionary's tail counts too.
        assert!(!few_matches(
            &b64[..20_000],
            &b64[..20_000],
            &mut buf,
            &mut table
        ));
    }
}
