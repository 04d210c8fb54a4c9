//! What each token stands for as bytes (for decoding), the merge order of SentencePiece-style
//! vocabularies, and streaming UTF-8 decoding.

use std::collections::HashMap;

use tokenizers::models::bpe::Merges;

const TOKEN_UNKNOWN: i32 = 2;
const TOKEN_CONTROL: i32 = 3;
const TOKEN_BYTE: i32 = 6;

/// GPT-2's byte-to-character table inverted: the character each byte is written as in a
/// byte-level BPE vocabulary, mapped back to the byte.
fn byte_level_decoder() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~')).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut map = HashMap::new();
    let mut next = 256;
    for b in 0u32..256 {
        let c = if printable.contains(&b) {
            b
        } else {
            next += 1;
            next - 1
        };
        if let Some(c) = char::from_u32(c) {
            map.insert(c, b as u8);
        }
    }
    map
}

/// Bytes of each token of a byte-level BPE vocabulary (control tokens: none).
pub fn byte_level(texts: &[String], types: &[i32]) -> Vec<Vec<u8>> {
    let table = byte_level_decoder();
    texts
        .iter()
        .zip(types)
        .map(|(t, ty)| match *ty {
            TOKEN_CONTROL => Vec::new(),
            // A token that is not byte-level encoded (user-defined) stands for its own text.
            _ => t
                .chars()
                .map(|c| table.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
                .unwrap_or_else(|| t.as_bytes().to_vec()),
        })
        .collect()
}

/// Bytes of each token of a SentencePiece vocabulary: `▁` is a space, `<0xXX>` one byte.
pub fn sentencepiece(texts: &[String], types: &[i32]) -> Vec<Vec<u8>> {
    texts
        .iter()
        .zip(types)
        .map(|(t, ty)| match *ty {
            TOKEN_CONTROL => Vec::new(),
            TOKEN_BYTE => t
                .strip_prefix("<0x")
                .and_then(|h| h.strip_suffix('>'))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .map_or_else(|| t.as_bytes().to_vec(), |b| vec![b]),
            TOKEN_UNKNOWN => " \u{2047} ".as_bytes().to_vec(),
            _ => t.replace('\u{2581}', " ").into_bytes(),
        })
        .collect()
}

/// Bytes of each token of a SentencePiece vocabulary known only by its texts (no token types):
/// `<0xXX>` texts are bytes.
pub fn sentencepiece_guess(texts: &[String], types: &[i32]) -> Vec<Vec<u8>> {
    let guessed: Vec<i32> = texts
        .iter()
        .zip(types)
        .map(|(t, &ty)| {
            if ty != TOKEN_CONTROL && t.len() == 6 && t.starts_with("<0x") && t.ends_with('>') {
                TOKEN_BYTE
            } else {
                ty
            }
        })
        .collect();
    sentencepiece(texts, &guessed)
}

/// BPE merges for a SentencePiece vocabulary: every way of writing a token as two tokens,
/// ranked by the merged token's score (higher first), as SentencePiece's BPE merges pieces.
pub fn merges_from_scores(texts: &[String], scores: &[f32], types: &[i32]) -> Merges {
    let ids: HashMap<&str, usize> = texts.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    let mut merges: Vec<(f32, usize, usize, &str, &str)> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        if types[i] == TOKEN_CONTROL || types[i] == TOKEN_BYTE {
            continue;
        }
        for (at, _) in t.char_indices().skip(1) {
            let (a, b) = t.split_at(at);
            if let (Some(&ia), Some(&ib)) = (ids.get(a), ids.get(b)) {
                merges.push((scores[i], i, ia.max(ib), a, b));
            }
        }
    }
    merges.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    merges.into_iter().map(|(_, _, _, a, b)| (a.to_owned(), b.to_owned())).collect()
}

/// Turns a stream of token bytes into text, holding back an incomplete UTF-8 character until
/// its last byte arrives (invalid bytes become U+FFFD).
#[derive(Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes and returns the text that is complete so far.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&self.pending[..good]).unwrap_or_default());
                    match e.error_len() {
                        // An incomplete character at the end: wait for more bytes.
                        None => {
                            self.pending.drain(..good);
                            return out;
                        }
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..good + bad);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left at the end of the stream (incomplete bytes as U+FFFD).
    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_decoder_holds_incomplete_characters() {
        let mut d = StreamDecoder::new();
        let euro = "€".as_bytes();
        assert_eq!(d.push(&[b'a', euro[0]]), "a");
        assert_eq!(d.push(&euro[1..2]), "");
        assert_eq!(d.push(&[euro[2], b'b']), "€b");
        assert_eq!(d.push(&[0xFF, b'c']), "\u{FFFD}c");
        assert_eq!(d.push(&[0xE2]), "");
        assert_eq!(d.finish(), "\u{FFFD}");
    }

    #[test]
    fn byte_level_table_inverts_gpt2() {
        let t = byte_level_decoder();
        assert_eq!(t.len(), 256);
        assert_eq!(t[&'Ġ'], b' ');
        assert_eq!(t[&'Ċ'], b'\n');
        assert_eq!(t[&'a'], b'a');
    }
}
