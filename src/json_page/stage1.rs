//! Stage 1: classify 64-byte blocks into bit masks and emit token positions.
//!
//! In every mask, bit `i` describes byte `i` of the block. A kernel only
//! classifies bytes ([`Raw`]); everything after that is plain `u64` arithmetic
//! shared by all kernels, so the kernels cannot disagree on JSON rules.
//!
//! Tokens are: structural characters outside strings, opening quotes, and the
//! first byte of every other run of non-whitespace (numbers, literals, junk),
//! except the first non-whitespace byte after a `,` or `:`, which stage 2
//! reads itself when it meets the separator.

use super::SplitError;

const BLOCK: usize = 64;
/// Blocks scanned per refill of the token buffer (4 KB of body).
const CHUNK_BLOCKS: usize = 64;
/// Token buffer length: one token per byte at most. That leaves room for
/// the unconditional writes of [`flatten`] too: the blocks before the last
/// hold at most `(CHUNK_BLOCKS - 1) * BLOCK` tokens, and the last writes at
/// most `BLOCK` entries from there. A power of two, so that stage 2 reads
/// the buffer at `next % BUF_LEN` with no bounds check.
pub(crate) const BUF_LEN: usize = CHUNK_BLOCKS * BLOCK;
const _: () = assert!(BUF_LEN.is_power_of_two());

/// A stage-1 kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Plain Rust, any target.
    Scalar,
    /// x86_64 baseline SIMD.
    Sse2,
    /// x86_64 with AVX2 (and BMI1, POPCNT, PCLMULQDQ), chosen at run time.
    Avx2,
    /// x86_64 with AVX-512 F and BW (and BMI1, POPCNT, PCLMULQDQ): a block
    /// is one register. Chosen only where AVX-512 VBMI shows an Ice Lake or
    /// later core (or AMD Zen 4): on Skylake-SP and Cascade Lake, 512-bit
    /// instructions lower the core's clock for the whole process, which
    /// can cost more than the kernel saves (simdjson likewise keeps its
    /// AVX-512 kernel for Ice Lake and later).
    Avx512,
}

impl Path {
    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        match self {
            Path::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Path::Sse2 => true,
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => {
                std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("bmi1")
                    && std::is_x86_feature_detected!("popcnt")
                    && std::is_x86_feature_detected!("pclmulqdq")
            }
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vbmi")
                    && std::is_x86_feature_detected!("bmi1")
                    && std::is_x86_feature_detected!("popcnt")
                    && std::is_x86_feature_detected!("pclmulqdq")
            }
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Every path this CPU can run, fastest last.
    pub fn available() -> Vec<Path> {
        [Path::Scalar, Path::Sse2, Path::Avx2, Path::Avx512]
            .into_iter()
            .filter(|p| p.is_available())
            .collect()
    }

    /// The fastest available path.
    pub fn best() -> Path {
        *Path::available().last().unwrap_or(&Path::Scalar)
    }
}

/// Raw classification of one block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Raw {
    quote: u64,
    backslash: u64,
    /// Space, `\t`, `\n`, `\r`.
    ws: u64,
    /// `{ } [ ] , :`
    op: u64,
    /// `, :`
    sep: u64,
    /// Bytes below 0x20.
    ctrl: u64,
}

/// Classifies one block.
trait Classify {
    /// # Safety
    /// The CPU must support the kernel's target features.
    unsafe fn classify(block: &[u8; BLOCK]) -> Raw;

    /// Bit i of the result is the XOR of bits 0..=i of `x`.
    #[inline(always)]
    fn prefix_xor(mut x: u64) -> u64 {
        x ^= x << 1;
        x ^= x << 2;
        x ^= x << 4;
        x ^= x << 8;
        x ^= x << 16;
        x ^= x << 32;
        x
    }
}

/// The block scanner: the body, the position of the next block and the state
/// carried from one block to the next.
pub(crate) struct Scanner<'a> {
    body: &'a [u8],
    path: Path,
    offset: usize,
    /// Bit 0 set: the first byte of the next block is escaped by a backslash run.
    escaped_carry: u64,
    /// All ones: the previous block ended inside a string.
    string_carry: u64,
    /// Bit 0 set: the previous block ended in a number or literal.
    scalar_carry: u64,
    /// Bit 0 set: the previous block ended in a separator, or in whitespace after one.
    sep_carry: u64,
    /// Bits 0 to 2: separators inside strings in the previous block's last 3 bytes.
    string_sep_carry: u64,
    /// Nonzero once a `,` or `:` inside a string lies three bytes before
    /// the string's closing quote (see [`Scanner::may_hold_offsets`]).
    offset_ends: u64,
    /// The first bad string byte seen; scanning stops there.
    pub(crate) error: Option<SplitError>,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(body: &'a [u8], path: Path) -> Self {
        Scanner {
            body,
            path,
            offset: 0,
            escaped_carry: 0,
            string_carry: 0,
            scalar_carry: 0,
            sep_carry: 0,
            string_sep_carry: 0,
            offset_ends: 0,
            error: None,
        }
    }

    /// Whether a string of the body scanned so far may end in a date-time's
    /// UTC offset, `±hh:mm"`: false when no `,` or `:` inside a string lies
    /// three bytes before its closing quote. The record path then knows,
    /// at the cost of a few instructions per block, that no record of the
    /// page needs its date-times rewritten to UTC, where it would otherwise
    /// search every record for offsets (7% of a plain read's instructions).
    pub(crate) fn may_hold_offsets(&self) -> bool {
        self.offset_ends != 0
    }

    /// Overwrites `buf` with the positions of the next tokens and returns how
    /// many there are; 0 means the end of the body (or a stage-1 error).
    pub(crate) fn fill(&mut self, buf: &mut [u32; BUF_LEN]) -> usize {
        while self.offset < self.body.len() && self.error.is_none() {
            let n = match self.path {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `Path::Avx2` is only used after `is_available` checked the features.
                Path::Avx2 => unsafe { x86::fill_avx2(self, buf) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: as above, for the AVX-512 features.
                Path::Avx512 => unsafe { x86::fill_avx512(self, buf) },
                #[cfg(target_arch = "x86_64")]
                Path::Sse2 => self.fill_with::<x86::Sse2>(buf),
                _ => self.fill_with::<Portable>(buf),
            };
            if self.offset >= self.body.len() && self.string_carry != 0 && self.error.is_none() {
                let at = self.body.len();
                self.error = Some(SplitError::Syntax {
                    what: "unterminated string",
                    at,
                });
            }
            if n > 0 {
                return n;
            }
        }
        0
    }

    /// Scans up to [`CHUNK_BLOCKS`] blocks with kernel `K`.
    ///
    /// Two passes: first the token masks of every block, then their
    /// positions. Each block's masks hang on one long dependency chain
    /// (classify, prefix XOR, tokens); keeping the flattening out of that loop
    /// lets the CPU overlap the chains of consecutive blocks.
    #[inline(always)]
    fn fill_with<K: Classify>(&mut self, buf: &mut [u32; BUF_LEN]) -> usize {
        let start = self.offset;
        let mut masks = [0u64; CHUNK_BLOCKS];
        let mut blocks = 0;
        while blocks < CHUNK_BLOCKS && self.error.is_none() {
            let base = self.offset;
            let raw = match self.body.get(base..base + BLOCK) {
                // SAFETY (both calls): callers of `fill_with::<K>` run on CPUs with K's features.
                Some(block) => unsafe { K::classify(block.try_into().unwrap()) },
                None if base < self.body.len() => {
                    // The last, partial block: pad with spaces, which are plain whitespace.
                    let mut padded = [b' '; BLOCK];
                    padded[..self.body.len() - base].copy_from_slice(&self.body[base..]);
                    unsafe { K::classify(&padded) }
                }
                None => break,
            };
            self.offset += BLOCK;
            masks[blocks] = self.block::<K>(raw, base);
            blocks += 1;
        }
        let mut n = 0;
        for (k, &mask) in masks[..blocks].iter().enumerate() {
            flatten(buf, &mut n, (start + k * BLOCK) as u32, mask);
        }
        n
    }

    /// Turns one block's raw masks into its token mask; records a bad string byte.
    #[inline(always)]
    fn block<K: Classify>(&mut self, raw: Raw, base: usize) -> u64 {
        // Most blocks hold no backslash at all: skip the escape arithmetic.
        let escaped = if raw.backslash | self.escaped_carry == 0 {
            0
        } else {
            let (escaped, carry) = escapes(raw.backslash, self.escaped_carry);
            self.escaped_carry = carry;
            escaped
        };
        let quotes = raw.quote & !escaped;
        // Inclusive prefix XOR: 1 from an opening quote up to (not including) its closing quote.
        let in_string = K::prefix_xor(quotes) ^ self.string_carry;
        self.string_carry = ((in_string as i64) >> 63) as u64;

        let mut bad = raw.ctrl & in_string;
        if escaped & in_string != 0 {
            bad |= self.bad_escapes(escaped & in_string, base);
        }

        // Numbers and literals: anything outside strings that is not whitespace,
        // structural or a quote. Only the first byte of each run is a token.
        let scalar = !(raw.ws | raw.op | raw.quote | in_string);
        let scalar_start = scalar & !((scalar << 1) | self.scalar_carry);
        self.scalar_carry = scalar >> 63;

        // The first non-whitespace byte after each `,` or `:` is not a token:
        // stage 2 reads it when it meets the separator. This halves the token
        // count. Adding 1 just past a separator ripples a carry through the
        // whitespace after it, onto that byte.
        let sep = raw.sep & !in_string;
        let (sum, over1) = raw.ws.overflowing_add(sep << 1);
        let (sum, over2) = sum.overflowing_add(self.sep_carry);
        let after_sep = sum & !raw.ws;
        self.sep_carry = (over1 | over2) as u64 | sep >> 63;

        let mut tokens = ((raw.op & !in_string) | (quotes & in_string) | scalar_start) & !after_sep;

        // A separator inside a string three bytes before a closing quote
        // (`:mm"`); closing quotes are the quotes outside `in_string`.
        let string_sep = raw.sep & in_string;
        self.offset_ends |= ((string_sep << 3) | self.string_sep_carry) & quotes & !in_string;
        self.string_sep_carry = string_sep >> 61;

        if bad != 0 {
            let i = bad.trailing_zeros();
            let what = if raw.ctrl >> i & 1 == 1 {
                "control character in string"
            } else {
                "invalid escape"
            };
            self.error = Some(SplitError::Syntax {
                what,
                at: base + i as usize,
            });
            // Keep the tokens before the bad byte so that an earlier error is still found first.
            tokens &= (1u64 << i) - 1;
        }
        tokens
    }

    /// The escaped bytes (inside strings) that do not form a valid escape.
    /// Rare, so plain code reading the body (the 4 hex digits of `\u` may
    /// lie in the next block).
    #[inline(never)]
    fn bad_escapes(&self, mut escaped: u64, base: usize) -> u64 {
        let mut bad = 0;
        while escaped != 0 {
            let i = escaped.trailing_zeros();
            escaped &= escaped - 1;
            let p = base + i as usize;
            let ok = match self.body.get(p) {
                // Past the end: reported as an unterminated string.
                None => true,
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => true,
                Some(b'u') => self
                    .body
                    .get(p + 1..p + 5)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
                Some(_) => false,
            };
            if !ok {
                bad |= 1 << i;
            }
        }
        bad
    }
}

/// Marks the bytes escaped by a backslash, given the block's backslashes and
/// the carry from the previous block (bit 0: first byte escaped). Returns the
/// escaped mask and the carry for the next block. Escaped backslashes inside
/// a run are not marked (except at bit 0): they are valid escapes anyway.
///
/// A run of backslashes escapes the byte after it when its length is odd. Adding
/// a run's first bit to the run ripples a carry to the byte just past it; that
/// byte's parity compared with the start's parity gives the length's parity.
#[inline(always)]
fn escapes(backslash: u64, carry: u64) -> (u64, u64) {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    // An escaped backslash (bit 0 after an odd run) starts nothing.
    let bs = backslash & !carry;
    let starts = bs & !(bs << 1);
    let (even_sum, _) = bs.overflowing_add(starts & EVEN);
    // A run starting on an odd bit that reaches bit 63 has odd length: it
    // escapes the next block's first byte (an even-start one there has even length).
    let (odd_sum, carry_out) = bs.overflowing_add(starts & !EVEN);
    let after_even_start = even_sum & !bs;
    let after_odd_start = odd_sum & !bs;
    let escaped = (after_even_start & !EVEN) | (after_odd_start & EVEN) | carry;
    (escaped, carry_out as u64)
}

/// Appends `base + i` for every set bit `i` of `bits` to `buf[*n..]`.
/// Writes eight at a time without checking how many are left, because a
/// predictable loop beats a branch per token; the extra writes land in the
/// slack at the end of `buf` or are overwritten by the next block.
#[inline(always)]
fn flatten(buf: &mut [u32; BUF_LEN], n: &mut usize, base: u32, mut bits: u64) {
    let count = bits.count_ones() as usize;
    let mut i = *n;
    while bits != 0 {
        // `i + 7 < BUF_LEN`: at most (CHUNK_BLOCKS - 1) * 64 tokens precede
        // this block's, and this block writes at most 64 entries.
        let slots = &mut buf[i..i + 8];
        for slot in slots {
            *slot = base + bits.trailing_zeros();
            bits &= bits.wrapping_sub(1);
        }
        i += 8;
    }
    *n += count;
}

/// Byte classes for the portable kernel.
const QUOTE: u8 = 1;
const BACKSLASH: u8 = 2;
const WS: u8 = 4;
const OP: u8 = 8;
const CTRL: u8 = 16;
const SEP: u8 = 32;

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = CTRL;
        b += 1;
    }
    t[b'\t' as usize] |= WS;
    t[b'\n' as usize] |= WS;
    t[b'\r' as usize] |= WS;
    t[b' ' as usize] = WS;
    t[b'"' as usize] = QUOTE;
    t[b'\\' as usize] = BACKSLASH;
    let ops = b"{}[],:";
    let mut i = 0;
    while i < ops.len() {
        t[ops[i] as usize] = OP;
        i += 1;
    }
    t[b',' as usize] |= SEP;
    t[b':' as usize] |= SEP;
    t
};

/// The portable kernel: one table lookup per byte.
struct Portable;

impl Classify for Portable {
    #[inline(always)]
    unsafe fn classify(block: &[u8; BLOCK]) -> Raw {
        let mut raw = Raw::default();
        for (i, &b) in block.iter().enumerate() {
            let c = CLASSES[b as usize] as u64;
            raw.quote |= (c & 1) << i;
            raw.backslash |= (c >> 1 & 1) << i;
            raw.ws |= (c >> 2 & 1) << i;
            raw.op |= (c >> 3 & 1) << i;
            raw.ctrl |= (c >> 4 & 1) << i;
            raw.sep |= (c >> 5 & 1) << i;
        }
        raw
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{BLOCK, BUF_LEN, Classify, Raw, Scanner};
    use core::arch::x86_64::*;

    /// Baseline kernel: byte comparisons, 16 bytes at a time.
    pub(super) struct Sse2;

    impl Classify for Sse2 {
        #[inline(always)]
        unsafe fn classify(block: &[u8; BLOCK]) -> Raw {
            let mut raw = Raw::default();
            // SAFETY: SSE2 is part of the x86_64 baseline; each unaligned
            // 16-byte load at 16 * k stays inside the 64-byte block.
            unsafe {
                for k in 0..4 {
                    let v = _mm_loadu_si128(block.as_ptr().add(16 * k).cast());
                    let eq = |c: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8));
                    let bits = |m: __m128i| (_mm_movemask_epi8(m) as u16 as u64) << (16 * k);
                    raw.quote |= bits(eq(b'"'));
                    raw.backslash |= bits(eq(b'\\'));
                    raw.ws |= bits(_mm_or_si128(
                        _mm_or_si128(eq(b' '), eq(b'\t')),
                        _mm_or_si128(eq(b'\n'), eq(b'\r')),
                    ));
                    // `[`/`]` are `{`/`}` with bit 5 clear: fold them with one OR.
                    let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
                    let brackets = _mm_or_si128(
                        _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'{' as i8)),
                        _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'}' as i8)),
                    );
                    let sep = _mm_or_si128(eq(b','), eq(b':'));
                    raw.sep |= bits(sep);
                    raw.op |= bits(_mm_or_si128(brackets, sep));
                    // v <= 0x1f (unsigned) exactly when min(v, 0x1f) == v.
                    raw.ctrl |= bits(_mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));
                }
            }
            raw
        }
    }

    /// AVX2 kernel: two nibble-table lookups classify whitespace, structural and
    /// control bytes at once, 32 bytes at a time.
    pub(super) struct Avx2;

    /// Class bits; a byte has a class when both its low-nibble and its
    /// high-nibble table entries have the bit.
    const TAB_NL_CR: u8 = 0x01; // high nibble 0, low 9/A/D
    const SPACE: u8 = 0x02; // 0x20
    const BRACKET: u8 = 0x04; // high 5/7, low B/D
    const COMMA: u8 = 0x08; // 0x2C
    const COLON: u8 = 0x10; // 0x3A
    const CONTROL: u8 = 0x80; // high 0/1, any low: bit 7 so movemask reads it directly

    const LOW: [u8; 16] = {
        let mut t = [CONTROL; 16];
        t[0x0] |= SPACE;
        t[0x9] |= TAB_NL_CR;
        t[0xA] |= TAB_NL_CR | COLON;
        t[0xB] |= BRACKET;
        t[0xC] |= COMMA;
        t[0xD] |= TAB_NL_CR | BRACKET;
        t
    };
    const HIGH: [u8; 16] = {
        let mut t = [0; 16];
        t[0x0] = TAB_NL_CR | CONTROL;
        t[0x1] = CONTROL;
        t[0x2] = SPACE | COMMA;
        t[0x3] = COLON;
        t[0x5] = BRACKET;
        t[0x7] = BRACKET;
        t
    };

    impl Classify for Avx2 {
        #[inline(always)]
        unsafe fn classify(block: &[u8; BLOCK]) -> Raw {
            // SAFETY: the caller checked AVX2; the two unaligned 32-byte loads
            // stay inside the 64-byte block and the 16-byte table loads inside
            // the tables.
            unsafe {
                let low = _mm256_broadcastsi128_si256(_mm_loadu_si128(LOW.as_ptr().cast()));
                let high = _mm256_broadcastsi128_si256(_mm_loadu_si128(HIGH.as_ptr().cast()));
                let nibble = _mm256_set1_epi8(0x0f);
                let mut raw = Raw::default();
                for k in 0..2 {
                    let v = _mm256_loadu_si256(block.as_ptr().add(32 * k).cast());
                    let class = _mm256_and_si256(
                        // No AND for the low nibble: vpshufb ignores bits 4..6 and gives 0
                        // for bytes >= 0x80, which belong to no class anyway.
                        _mm256_shuffle_epi8(low, v),
                        _mm256_shuffle_epi8(
                            high,
                            _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble),
                        ),
                    );
                    let bits = |m: __m256i| (_mm256_movemask_epi8(m) as u32 as u64) << (32 * k);
                    let eq = |c: u8| bits(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(c as i8)));
                    let none = |c: u8| {
                        bits(_mm256_cmpeq_epi8(
                            _mm256_and_si256(class, _mm256_set1_epi8(c as i8)),
                            _mm256_setzero_si256(),
                        ))
                    };
                    raw.quote |= eq(b'"');
                    raw.backslash |= eq(b'\\');
                    raw.ws |= !none(TAB_NL_CR | SPACE) & (u32::MAX as u64) << (32 * k);
                    raw.op |= !none(BRACKET | COMMA | COLON) & (u32::MAX as u64) << (32 * k);
                    raw.sep |= !none(COMMA | COLON) & (u32::MAX as u64) << (32 * k);
                    raw.ctrl |= bits(class);
                }
                raw
            }
        }

        /// One carry-less multiplication by all ones computes the prefix XOR.
        #[inline(always)]
        fn prefix_xor(x: u64) -> u64 {
            // SAFETY: `fill_avx2`, the only caller, requires PCLMULQDQ.
            unsafe {
                let product =
                    _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1), 0);
                _mm_cvtsi128_si64(product) as u64
            }
        }
    }

    /// `Scanner::fill_with::<Avx2>` compiled with the AVX2 features, so that the
    /// kernel and the bit arithmetic (tzcnt, popcnt) inline into one loop.
    ///
    /// # Safety
    /// The CPU must support AVX2, BMI1, POPCNT and PCLMULQDQ.
    #[target_feature(enable = "avx2,bmi1,popcnt,pclmulqdq")]
    pub(super) unsafe fn fill_avx2(scanner: &mut Scanner<'_>, buf: &mut [u32; BUF_LEN]) -> usize {
        scanner.fill_with::<Avx2>(buf)
    }

    /// AVX-512 kernel: the AVX2 kernel's nibble tables over the whole
    /// 64-byte block at once, with comparisons that give the bit masks
    /// directly (no movemask, shift and OR per half). Writing the token
    /// positions with compress-stores measured no faster than the shared
    /// [`flatten`](super::flatten), so it is not done.
    pub(super) struct Avx512;

    impl Classify for Avx512 {
        #[inline(always)]
        unsafe fn classify(block: &[u8; BLOCK]) -> Raw {
            // SAFETY: the caller checked AVX-512 F and BW; the 64-byte load
            // is the block and the 16-byte table loads are the tables.
            unsafe {
                let low = _mm512_broadcast_i32x4(_mm_loadu_si128(LOW.as_ptr().cast()));
                let high = _mm512_broadcast_i32x4(_mm_loadu_si128(HIGH.as_ptr().cast()));
                let v = _mm512_loadu_si512(block.as_ptr().cast());
                // As in the AVX2 kernel, vpshufb gives 0 for bytes >= 0x80.
                let class = _mm512_and_si512(
                    _mm512_shuffle_epi8(low, v),
                    _mm512_shuffle_epi8(
                        high,
                        _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0f)),
                    ),
                );
                let eq = |c: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(c as i8));
                let any = |c: u8| _mm512_test_epi8_mask(class, _mm512_set1_epi8(c as i8));
                Raw {
                    quote: eq(b'"'),
                    backslash: eq(b'\\'),
                    ws: any(TAB_NL_CR | SPACE),
                    op: any(BRACKET | COMMA | COLON),
                    sep: any(COMMA | COLON),
                    ctrl: _mm512_movepi8_mask(class),
                }
            }
        }

        /// As in the AVX2 kernel: one carry-less multiplication.
        #[inline(always)]
        fn prefix_xor(x: u64) -> u64 {
            Avx2::prefix_xor(x)
        }
    }

    /// `Scanner::fill_with::<Avx512>` compiled with the AVX-512 features.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and BW, BMI1, POPCNT and PCLMULQDQ.
    #[target_feature(enable = "avx512f,avx512bw,avx2,bmi1,popcnt,pclmulqdq")]
    pub(super) unsafe fn fill_avx512(scanner: &mut Scanner<'_>, buf: &mut [u32; BUF_LEN]) -> usize {
        scanner.fill_with::<Avx512>(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Escaped bytes computed the slow way: walk the block left to right.
    /// Like `escapes`, it reports escaped backslashes only at bit 0 (they
    /// are valid escapes and never quotes, so nothing else needs them).
    fn escapes_slow(bs: u64, carry_in: bool) -> (u64, u64) {
        let (mut escaped, mut carry) = (0, carry_in);
        for i in 0..64 {
            if carry {
                escaped |= 1 << i;
                carry = false;
            } else if bs >> i & 1 == 1 {
                carry = true;
            }
        }
        ((escaped & !bs) | carry_in as u64, carry as u64)
    }

    #[test]
    fn escape_arithmetic_matches_a_byte_walk() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Denser and sparser backslash patterns.
            let bs = match round % 3 {
                0 => x,
                1 => x | x >> 1 | x >> 2,
                _ => x & x >> 3,
            };
            for carry in [0, 1] {
                assert_eq!(
                    escapes(bs, carry),
                    escapes_slow(bs, carry == 1),
                    "bs={bs:#x} carry={carry}"
                );
            }
        }
    }

    #[test]
    fn every_kernel_classifies_every_byte_like_the_table() {
        // The 256 byte values in four blocks, then again shifted by half a
        // block, so that each value sits in both halves of a 32-byte kernel
        // and in two of the 16-byte lanes of the others.
        let bytes: Vec<u8> = (0..=255u8)
            .chain((0..=255u8).map(|b| b.wrapping_add(32)))
            .collect();
        for block in bytes.chunks_exact(BLOCK) {
            let block: &[u8; BLOCK] = block.try_into().unwrap();
            // SAFETY: the portable kernel needs no CPU feature.
            let expected = unsafe { Portable::classify(block) };
            #[cfg(target_arch = "x86_64")]
            {
                // SAFETY (each): SSE2 is baseline; the others run only when available.
                assert_eq!(unsafe { x86::Sse2::classify(block) }, expected, "Sse2");
                if Path::Avx2.is_available() {
                    assert_eq!(unsafe { x86::Avx2::classify(block) }, expected, "Avx2");
                }
                if Path::Avx512.is_available() {
                    assert_eq!(unsafe { x86::Avx512::classify(block) }, expected, "Avx512");
                }
            }
        }
    }

    #[test]
    fn prefix_xor_is_a_running_parity() {
        let x = 0b1001_0110u64 | 1 << 63;
        let mut parity = 0;
        for i in 0..64 {
            parity ^= x >> i & 1;
            assert_eq!(Portable::prefix_xor(x) >> i & 1, parity);
            #[cfg(target_arch = "x86_64")]
            if Path::Avx2.is_available() {
                assert_eq!(x86::Avx2::prefix_xor(x) >> i & 1, parity);
            }
            #[cfg(target_arch = "x86_64")]
            if Path::Avx512.is_available() {
                assert_eq!(x86::Avx512::prefix_xor(x) >> i & 1, parity);
            }
        }
    }
}
