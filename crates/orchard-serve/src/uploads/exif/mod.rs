//! Metadata stripped from a kept photo, without re-encoding it: the pixels
//! stay bit for bit what the person sent, and nothing else does.
//!
//! * JPEG: every `APPn` and `COM` segment goes (EXIF with its GPS block, XMP,
//!   maker notes, thumbnails, Photoshop IPTC, comments), except the JFIF
//!   header (`APP0`), an ICC colour profile (`APP2 ICC_PROFILE`) and Adobe's
//!   colour-transform flag (`APP14 Adobe`), which only say how to show the
//!   pixels. Anything after the end-of-image marker (appended "multi-picture"
//!   images, which carry EXIF of their own) goes too. When the photo was
//!   taken sideways, a minimal EXIF block holding the orientation tag alone
//!   is written back, so the stored copy is seen (and trained on) upright.
//! * PNG: `eXIf`, `tEXt`, `zTXt`, `iTXt` and `tIME` chunks go, and anything
//!   after `IEND`.
//! * WebP: `EXIF` and `XMP ` chunks go, with any chunk the format does not
//!   define and anything after the RIFF container; the orientation is kept
//!   as in a JPEG (see [`webp`]).

mod webp;

/// Why a photo could not be stripped.
#[derive(Debug, thiserror::Error)]
pub enum StripError {
    /// Not a JPEG, PNG or WebP.
    #[error("the photo is not a JPEG, PNG or WebP, so it cannot be stored")]
    UnknownFormat,
    /// The container is damaged.
    #[error("the photo's {format} structure is damaged at byte {at}: {what}")]
    Damaged {
        /// JPEG, PNG or WebP.
        format: &'static str,
        /// Offset of the damage.
        at: usize,
        /// What was wrong.
        what: &'static str,
    },
}

/// A photo without its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    /// The photo's bytes.
    pub bytes: Vec<u8>,
    /// `jpg`, `png` or `webp`.
    pub extension: &'static str,
}

/// `photo` (JPEG, PNG or WebP) without metadata (see the module docs).
pub fn strip_metadata(photo: &[u8]) -> Result<Stripped, StripError> {
    if photo.starts_with(&[0xFF, 0xD8]) {
        Ok(Stripped {
            bytes: strip_jpeg(photo)?,
            extension: "jpg",
        })
    } else if photo.starts_with(PNG_SIGNATURE) {
        Ok(Stripped {
            bytes: strip_png(photo)?,
            extension: "png",
        })
    } else if webp::is_webp(photo) {
        Ok(Stripped {
            bytes: webp::strip_webp(photo)?,
            extension: "webp",
        })
    } else {
        Err(StripError::UnknownFormat)
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn damaged_jpeg(at: usize, what: &'static str) -> StripError {
    StripError::Damaged {
        format: "JPEG",
        at,
        what,
    }
}

/// Whether a JPEG marker segment (`marker`, its payload) is kept.
fn keep_segment(marker: u8, payload: &[u8]) -> bool {
    match marker {
        0xE0 => true,
        0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
        0xEE => payload.starts_with(b"Adobe"),
        0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
        _ => true,
    }
}

fn strip_jpeg(photo: &[u8]) -> Result<Vec<u8>, StripError> {
    let mut out = Vec::with_capacity(photo.len());
    out.extend_from_slice(&photo[..2]);
    let mut orientation = None;
    let mut at = 2;
    let mut in_scan = false;
    while at < photo.len() {
        if in_scan {
            // Entropy-coded data: copy until a marker that is not stuffing
            // (FF00), a restart (FFD0–D7) or fill (FFFF).
            let start = at;
            while at + 1 < photo.len() {
                if photo[at] == 0xFF {
                    let next = photo[at + 1];
                    if next == 0x00 || (0xD0..=0xD7).contains(&next) {
                        at += 2;
                        continue;
                    }
                    if next == 0xFF {
                        at += 1;
                        continue;
                    }
                    break;
                }
                at += 1;
            }
            out.extend_from_slice(&photo[start..at.min(photo.len())]);
            if at + 1 >= photo.len() {
                // No end marker: a truncated photo, kept as sent.
                out.extend_from_slice(&photo[at.min(photo.len())..]);
                break;
            }
            in_scan = false;
        }
        if photo[at] != 0xFF {
            return Err(damaged_jpeg(at, "expected a marker"));
        }
        let marker = *photo
            .get(at + 1)
            .ok_or_else(|| damaged_jpeg(at, "a marker is cut short"))?;
        match marker {
            0xFF => {
                at += 1;
                continue;
            }
            0xD9 => {
                // End of image: anything after it is dropped.
                out.extend_from_slice(&[0xFF, 0xD9]);
                break;
            }
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&photo[at..at + 2]);
                at += 2;
                continue;
            }
            _ => {}
        }
        let len_bytes = photo
            .get(at + 2..at + 4)
            .ok_or_else(|| damaged_jpeg(at, "a segment length is cut short"))?;
        let len = u16::from_be_bytes([len_bytes[0], len_bytes[1]]) as usize;
        if len < 2 || at + 2 + len > photo.len() {
            return Err(damaged_jpeg(at, "a segment runs past the end"));
        }
        let payload = &photo[at + 4..at + 2 + len];
        if marker == 0xE1 && payload.starts_with(b"Exif\0\0") && orientation.is_none() {
            orientation = tiff_orientation(&payload[6..]);
        }
        if keep_segment(marker, payload) {
            out.extend_from_slice(&photo[at..at + 2 + len]);
        }
        if marker == 0xDA {
            in_scan = true;
        }
        at += 2 + len;
    }
    if let Some(o) = orientation.filter(|o| (2..=8).contains(o)) {
        let exif = orientation_exif(o);
        // Right after SOI (and the JFIF header, when there is one).
        let insert = if out.get(2..4) == Some(&[0xFF, 0xE0]) {
            4 + u16::from_be_bytes([out[4], out[5]]) as usize
        } else {
            2
        };
        out.splice(insert..insert, exif);
    }
    Ok(out)
}

/// The orientation tag (0x0112) of a TIFF header's first IFD (the `image`
/// crate's reader, the one its decoders use); `None` without a valid one.
fn tiff_orientation(tiff: &[u8]) -> Option<u16> {
    image::metadata::Orientation::from_exif_chunk(tiff).map(|o| u16::from(o.to_exif()))
}

/// An `APP1` segment whose EXIF holds the orientation tag and nothing else.
fn orientation_exif(orientation: u16) -> Vec<u8> {
    let tiff = orientation_tiff(orientation);
    let mut segment = vec![0xFF, 0xE1];
    let len = (2 + 6 + tiff.len()) as u16;
    segment.extend_from_slice(&len.to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);
    segment
}

/// A TIFF header and one IFD holding the orientation tag and nothing else.
fn orientation_tiff(orientation: u16) -> Vec<u8> {
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // big-endian, IFD0 at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // one value
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // padding of the value field
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    tiff
}

fn strip_png(photo: &[u8]) -> Result<Vec<u8>, StripError> {
    let damaged = |at, what| StripError::Damaged {
        format: "PNG",
        at,
        what,
    };
    let mut out = PNG_SIGNATURE.to_vec();
    let mut at = PNG_SIGNATURE.len();
    while at < photo.len() {
        let header = photo
            .get(at..at + 8)
            .ok_or_else(|| damaged(at, "a chunk header is cut short"))?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let end = at
            .checked_add(12)
            .and_then(|e| e.checked_add(len))
            .filter(|e| *e <= photo.len())
            .ok_or_else(|| damaged(at, "a chunk runs past the end"))?;
        let dropped = matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME");
        if !dropped {
            out.extend_from_slice(&photo[at..end]);
        }
        at = end;
        if kind == b"IEND" {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small JPEG from the `image` crate, with hand-made metadata
    /// segments after SOI and junk after EOI.
    fn jpeg_with_metadata() -> (Vec<u8>, Vec<u8>) {
        let img =
            image::RgbImage::from_fn(16, 8, |x, y| image::Rgb([x as u8 * 9, y as u8 * 20, 7]));
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 90)
            .encode_image(&img)
            .unwrap();
        // EXIF: little-endian, IFD0 with Orientation 6 and a GPS pointer,
        // followed by a marked GPS block.
        let mut tiff = b"II\x2a\0\x08\0\0\0".to_vec();
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&0x0112u16.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&[6, 0, 0, 0]);
        tiff.extend_from_slice(&0x8825u16.to_le_bytes());
        tiff.extend_from_slice(&4u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&38u32.to_le_bytes());
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(b"GPS-48.8584N-2.2945E");
        let mut app1 = vec![0xFF, 0xE1];
        app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(&tiff);
        let comment = b"\xFF\xFE\x00\x0Eowner: alice";
        let mut marked = plain[..2].to_vec();
        marked.extend_from_slice(&app1);
        marked.extend_from_slice(comment);
        marked.extend_from_slice(&plain[2..]);
        marked.extend_from_slice(b"\xFF\xD8 appended image with GPS-48.8584N");
        (plain, marked)
    }

    /// Whether `needle` occurs in `haystack` (also used by `webp`'s tests).
    pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn gps_comments_and_trailers_go_orientation_and_pixels_stay() {
        let (plain, marked) = jpeg_with_metadata();
        let stripped = strip_metadata(&marked).unwrap();
        assert_eq!(stripped.extension, "jpg");
        assert!(!contains(&stripped.bytes, b"GPS"));
        assert!(!contains(&stripped.bytes, b"alice"));
        assert!(!contains(&stripped.bytes, b"appended"));
        assert!(stripped.bytes.ends_with(&[0xFF, 0xD9]));
        // The orientation survives, alone.
        let at = stripped
            .bytes
            .windows(6)
            .position(|w| w == b"Exif\0\0")
            .unwrap();
        assert_eq!(tiff_orientation(&stripped.bytes[at + 6..]), Some(6));
        // Same pixels as the photo without metadata.
        let a = image::load_from_memory(&plain).unwrap().to_rgb8();
        let b = image::load_from_memory(&stripped.bytes).unwrap().to_rgb8();
        assert_eq!(a, b);
        // A photo with no metadata comes back unchanged.
        assert_eq!(strip_metadata(&plain).unwrap().bytes, plain);
    }

    #[test]
    fn png_text_and_exif_chunks_go() {
        let img = image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]));
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(&img, 4, 4, image::ExtendedColorType::Rgb8)
            .unwrap();
        use image::ImageEncoder;
        // Insert a tEXt chunk after IHDR (8 + 25 bytes).
        let data = b"Author\0alice at 48.8584N";
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(b"tEXt");
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(&[0, 0, 0, 0]); // CRC is not checked here
        let mut marked = png[..33].to_vec();
        marked.extend_from_slice(&chunk);
        marked.extend_from_slice(&png[33..]);
        let stripped = strip_metadata(&marked).unwrap();
        assert_eq!(stripped.extension, "png");
        assert_eq!(stripped.bytes, png);
    }

    #[test]
    fn other_bytes_and_damage_are_refused() {
        assert!(matches!(
            strip_metadata(b"GIF89a"),
            Err(StripError::UnknownFormat)
        ));
        assert!(matches!(
            strip_metadata(&[0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 0]),
            Err(StripError::Damaged { .. })
        ));
        assert!(matches!(
            strip_metadata(b"\x89PNG\r\n\x1a\n\0\0\xff\xffIHDR"),
            Err(StripError::Damaged { .. })
        ));
    }
}
