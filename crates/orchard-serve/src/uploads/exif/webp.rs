//! WebP metadata stripped without re-encoding: the RIFF container is walked
//! chunk by chunk and only the chunks that draw the picture are copied
//! (`VP8X`, `VP8 `, `VP8L`, `ALPH`, `ANIM`, `ANMF`, and the `ICCP` colour
//! profile). `EXIF` (with its GPS block), `XMP ` and any chunk the format
//! does not define go, as does anything after the container. A sideways
//! photo gets back an `EXIF` chunk holding the orientation alone, and the
//! `VP8X` flags say what is left.

use super::{orientation_tiff, tiff_orientation, StripError};

/// `VP8X` flag bits (the first payload byte).
const FLAG_EXIF: u8 = 0x08;
const FLAG_XMP: u8 = 0x04;

/// Whether `photo` is a RIFF WebP container.
pub(super) fn is_webp(photo: &[u8]) -> bool {
    photo.len() >= 12 && &photo[0..4] == b"RIFF" && &photo[8..12] == b"WEBP"
}

fn damaged(at: usize, what: &'static str) -> StripError {
    StripError::Damaged {
        format: "WebP",
        at,
        what,
    }
}

/// Whether a chunk (by its FourCC) draws the picture and is kept.
fn keep_chunk(fourcc: &[u8]) -> bool {
    matches!(
        fourcc,
        b"VP8X" | b"VP8 " | b"VP8L" | b"ALPH" | b"ANIM" | b"ANMF" | b"ICCP"
    )
}

/// `photo` (a WebP, see [`is_webp`]) without metadata (see the module docs).
pub(super) fn strip_webp(photo: &[u8]) -> Result<Vec<u8>, StripError> {
    let declared = u32::from_le_bytes([photo[4], photo[5], photo[6], photo[7]]) as usize;
    let end = declared
        .checked_add(8)
        .filter(|end| *end <= photo.len())
        .ok_or_else(|| damaged(4, "the RIFF size runs past the end"))?;
    let mut out = photo[..12].to_vec();
    let mut orientation = None;
    let mut at = 12;
    while at < end {
        let header = photo
            .get(at..at + 8)
            .filter(|_| at + 8 <= end)
            .ok_or_else(|| damaged(at, "a chunk header is cut short"))?;
        let fourcc = &header[..4];
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        // Chunks are padded to an even size; a last chunk may omit its pad.
        let payload_end = (at + 8)
            .checked_add(len)
            .filter(|e| *e <= end)
            .ok_or_else(|| damaged(at, "a chunk runs past the end"))?;
        let chunk_end = (payload_end + (len & 1)).min(end);
        if fourcc == b"EXIF" && orientation.is_none() {
            let exif = &photo[at + 8..payload_end];
            orientation = tiff_orientation(exif.strip_prefix(b"Exif\0\0").unwrap_or(exif));
        }
        if keep_chunk(fourcc) {
            out.extend_from_slice(&photo[at..chunk_end]);
            if len & 1 == 1 && chunk_end == payload_end {
                out.push(0);
            }
        }
        at = chunk_end;
    }
    let extended = out.get(12..16) == Some(b"VP8X".as_slice());
    if extended {
        out[20] &= !(FLAG_EXIF | FLAG_XMP);
    }
    // Only an extended file can carry EXIF, and only such a file had any.
    if let Some(o) = orientation.filter(|o| extended && (2..=8).contains(o)) {
        let tiff = orientation_tiff(o);
        out.extend_from_slice(b"EXIF");
        out.extend_from_slice(&(tiff.len() as u32).to_le_bytes());
        out.extend_from_slice(&tiff);
        if tiff.len() % 2 == 1 {
            out.push(0);
        }
        out[20] |= FLAG_EXIF;
    }
    let riff_size = (out.len() - 8) as u32;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::strip_metadata;
    use super::super::tests::contains;
    use super::*;

    fn chunk(fourcc: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut c = fourcc.to_vec();
        c.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        c.extend_from_slice(payload);
        if payload.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&(4 + body.len() as u32).to_le_bytes());
        b.extend_from_slice(b"WEBP");
        b.extend_from_slice(&body);
        b
    }

    /// A lossless WebP from the `image` crate, and the same picture as an
    /// extended file with EXIF (orientation 6 and a GPS note), XMP, an
    /// unknown chunk and junk after the container.
    fn webp_with_metadata() -> (Vec<u8>, Vec<u8>) {
        let img =
            image::RgbImage::from_fn(16, 8, |x, y| image::Rgb([x as u8 * 9, y as u8 * 20, 7]));
        let mut plain = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut plain)
            .encode(img.as_raw(), 16, 8, image::ExtendedColorType::Rgb8)
            .unwrap();
        assert_eq!(&plain[12..16], b"VP8L");
        let vp8l = plain[12..].to_vec();
        let mut vp8x = vec![FLAG_EXIF | FLAG_XMP, 0, 0, 0];
        vp8x.extend_from_slice(&15u32.to_le_bytes()[..3]);
        vp8x.extend_from_slice(&7u32.to_le_bytes()[..3]);
        let mut tiff = b"II\x2a\0\x08\0\0\0".to_vec();
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&0x0112u16.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&[6, 0, 0, 0]);
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(b"GPS-48.8584N-2.2945E");
        let mut marked = riff(&[
            chunk(b"VP8X", &vp8x),
            vp8l,
            chunk(b"EXIF", &tiff),
            chunk(b"XMP ", b"<x:xmpmeta>creator: alice</x:xmpmeta>"),
            chunk(b"NOTE", b"owner alice"),
        ]);
        marked.extend_from_slice(b"appended GPS-48.8584N");
        (plain, marked)
    }

    #[test]
    fn exif_xmp_and_unknown_chunks_go_orientation_and_pixels_stay() {
        let (plain, marked) = webp_with_metadata();
        let stripped = strip_metadata(&marked).unwrap();
        assert_eq!(stripped.extension, "webp");
        let b = &stripped.bytes;
        for secret in [&b"GPS"[..], b"alice", b"appended", b"XMP ", b"NOTE"] {
            assert!(!contains(b, secret), "{}", String::from_utf8_lossy(secret));
        }
        // The container's size is right, and the flags say EXIF only.
        assert_eq!(
            u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize,
            b.len() - 8
        );
        assert_eq!(b[20], FLAG_EXIF);
        // The orientation survives, alone.
        let at = b.windows(4).position(|w| w == b"EXIF").unwrap();
        assert_eq!(tiff_orientation(&b[at + 8..]), Some(6));
        // The same pixels.
        let a = image::load_from_memory(&plain).unwrap().to_rgb8();
        let s = image::load_from_memory(b).unwrap().to_rgb8();
        assert_eq!(a, s);
        // A photo with no metadata comes back unchanged.
        assert_eq!(strip_metadata(&plain).unwrap().bytes, plain);
    }

    #[test]
    fn an_upright_photo_keeps_no_exif() {
        let (_, marked) = webp_with_metadata();
        // Orientation 1: the EXIF chunk goes entirely.
        let at = marked.windows(4).position(|w| w == b"EXIF").unwrap();
        let mut upright = marked.clone();
        upright[at + 8 + 18] = 1; // the orientation value in the IFD entry
        let stripped = strip_metadata(&upright).unwrap().bytes;
        assert!(!contains(&stripped, b"EXIF"));
        assert_eq!(stripped[20], 0);
    }

    #[test]
    fn damaged_containers_are_refused() {
        let (_, marked) = webp_with_metadata();
        // The RIFF size says more than there is.
        let mut long = marked.clone();
        long[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            strip_metadata(&long),
            Err(StripError::Damaged {
                format: "WebP",
                at: 4,
                ..
            })
        ));
        // A chunk runs past the end of the container.
        let mut cut = marked[..40].to_vec();
        cut[4..8].copy_from_slice(&32u32.to_le_bytes());
        assert!(matches!(
            strip_metadata(&cut),
            Err(StripError::Damaged { format: "WebP", .. })
        ));
    }
}
