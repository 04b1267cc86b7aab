//! Hostile inputs for tests (Orchard's and those of tools built on it): files
//! whose headers promise more pixels than any decoder should allocate.

/// A PNG of `w × h` pixels as far as its header goes (valid CRCs), with a
/// little compressed data that would inflate forever: a decompression bomb's
/// signature.
pub fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x63, 0x60, 0x18, 0x05, 0xA3, 0x60],
    ));
    png
}

/// One PNG chunk: length, tag, data and the CRC-32 (IEEE) of tag and data.
pub fn png_chunk(tag: &[u8], data: &[u8]) -> Vec<u8> {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in tag.iter().chain(data) {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(tag);
    out.extend_from_slice(data);
    out.extend_from_slice(&(!crc).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_crc_matches_a_known_iend() {
        // Every PNG ends with this exact IEND chunk.
        assert_eq!(
            png_chunk(b"IEND", &[]),
            [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]
        );
        assert!(bomb_png(50_000, 50_000).starts_with(b"\x89PNG"));
    }
}
