//! Preparing a photo or file before it is attached: recognising its type by its signature,
//! and for photos applying the EXIF orientation, downscaling, re-encoding as JPEG (which drops
//! the EXIF segment and with it the GPS position) and making the list thumbnail.
//!
//! Decoding runs under limits (pixels per side, bytes allocated), so a crafted file cannot
//! exhaust the phone's memory: such a file is refused as `UnsupportedFile`.

#![deny(unsafe_code)]

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits};
use sync_core::models::attachment::{MAX_BLOB_BYTES, MAX_PIXELS_PER_SIDE, MediaType};

use crate::error::GridbookError;

/// JPEG quality of a re-encoded photo.
const PHOTO_QUALITY: u8 = 85;
/// Longest side of a thumbnail, in pixels (as the server's `?size=thumb`).
pub(crate) const THUMB_SIDE: u32 = 320;
/// JPEG quality of a thumbnail.
const THUMB_QUALITY: u8 = 80;
/// Most bytes the decoder may allocate for one photo (a 12-megapixel photo needs ~36 MB).
const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;
/// The default longest side of an attached photo.
pub(crate) const DEFAULT_MAX_SIDE: u32 = 1600;

/// What is stored and referenced for one attached file.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The bytes to store (the original, or the re-encoded photo).
    pub bytes: Vec<u8>,
    /// Their type.
    pub media_type: MediaType,
    /// Width and height in pixels (pictures).
    pub size_px: Option<(u32, u32)>,
    /// The list thumbnail (pictures): a JPEG, longest side [`THUMB_SIDE`].
    pub thumb: Option<Vec<u8>>,
}

fn unsupported(reason: impl Into<String>) -> GridbookError {
    GridbookError::UnsupportedFile {
        reason: reason.into(),
    }
}

/// The file's type by its signature, or `UnsupportedFile` naming what is accepted.
pub(crate) fn sniff(bytes: &[u8]) -> Result<MediaType, GridbookError> {
    if bytes.is_empty() {
        return Err(unsupported("the file is empty"));
    }
    MediaType::sniff(bytes).ok_or_else(|| {
        unsupported(
            "the file is not a JPEG, PNG or WebP photo nor a PDF document (recognised by its \
             first bytes, not its name)",
        )
    })
}

fn decoding_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_PIXELS_PER_SIDE);
    limits.max_image_height = Some(MAX_PIXELS_PER_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits
}

fn format_of(media_type: MediaType) -> Option<ImageFormat> {
    match media_type {
        MediaType::Jpeg => Some(ImageFormat::Jpeg),
        MediaType::Png => Some(ImageFormat::Png),
        MediaType::Webp => Some(ImageFormat::WebP),
        MediaType::Pdf => None,
    }
}

/// A decoded picture with what its metadata said.
struct Decoded {
    image: DynamicImage,
    exif: Option<Vec<u8>>,
    orientation: Orientation,
}

fn decode(bytes: &[u8], format: ImageFormat) -> Result<Decoded, GridbookError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decoding_limits());
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| unsupported(format!("the picture does not decode: {e}")))?;
    // An unreadable EXIF segment is treated as none: the photo is re-encoded without it.
    let exif = decoder.exif_metadata().ok().flatten();
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder)
        .map_err(|e| unsupported(format!("the picture does not decode: {e}")))?;
    Ok(Decoded {
        image,
        exif,
        orientation,
    })
}

fn encode_jpeg(
    image: &DynamicImage,
    quality: u8,
    exif: Option<Vec<u8>>,
) -> Result<Vec<u8>, GridbookError> {
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, quality);
    if let Some(exif) = exif {
        encoder
            .set_exif_metadata(exif)
            .map_err(|e| unsupported(format!("cannot keep the photo's metadata: {e}")))?;
    }
    // JPEG has no alpha: a transparent picture is flattened to its colour channels.
    let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
    rgb.write_with_encoder(encoder)
        .map_err(|e| unsupported(format!("cannot encode the photo: {e}")))?;
    Ok(out)
}

/// A JPEG thumbnail of a picture, longest side [`THUMB_SIDE`] (never enlarged).
fn thumbnail_of(image: &DynamicImage) -> Result<Vec<u8>, GridbookError> {
    let small = if image.width().max(image.height()) > THUMB_SIDE {
        image.thumbnail(THUMB_SIDE, THUMB_SIDE)
    } else {
        image.clone()
    };
    encode_jpeg(&small, THUMB_QUALITY, None)
}

/// A thumbnail of stored picture bytes (for full-size bytes held without one).
pub(crate) fn thumbnail(bytes: &[u8], media_type: MediaType) -> Result<Vec<u8>, GridbookError> {
    let format = format_of(media_type)
        .ok_or_else(|| unsupported("a PDF document has no thumbnail; open the full file"))?;
    let mut decoded = decode(bytes, format)?;
    decoded.image.apply_orientation(decoded.orientation);
    thumbnail_of(&decoded.image)
}

/// Prepares `bytes` for attaching. A PDF is kept as it is. A photo is turned upright, scaled
/// down to at most `max_side` pixels on its longest side and re-encoded as JPEG (quality 85)
/// without its EXIF segment; with `keep_location` its EXIF segment is carried over (with the
/// orientation reset, since the pixels are upright now). A photo already within `max_side`
/// without EXIF (or upright with EXIF the app asked to keep) is kept byte for byte.
pub(crate) fn prepare(
    bytes: Vec<u8>,
    max_side: u32,
    keep_location: bool,
) -> Result<Prepared, GridbookError> {
    if bytes.len() as u64 > MAX_BLOB_BYTES {
        return Err(unsupported(format!(
            "the file is larger than {} MiB",
            MAX_BLOB_BYTES / (1024 * 1024)
        )));
    }
    let media_type = sniff(&bytes)?;
    let Some(format) = format_of(media_type) else {
        return Ok(Prepared {
            bytes,
            media_type,
            size_px: None,
            thumb: None,
        });
    };
    let max_side = max_side.clamp(THUMB_SIDE, MAX_PIXELS_PER_SIDE);
    let Decoded {
        mut image,
        exif,
        orientation,
    } = decode(&bytes, format)?;
    image.apply_orientation(orientation);
    let small_enough = image.width().max(image.height()) <= max_side;
    let upright = orientation == Orientation::NoTransforms;
    let thumb = Some(thumbnail_of(&image)?);
    if small_enough && (exif.is_none() || (keep_location && upright)) {
        let size_px = Some((image.width(), image.height()));
        return Ok(Prepared {
            bytes,
            media_type,
            size_px,
            thumb,
        });
    }
    if !small_enough {
        image = image.resize(max_side, max_side, FilterType::CatmullRom);
    }
    let kept_exif = exif.filter(|_| keep_location).map(|mut exif| {
        // The pixels are upright now: software that honours EXIF must not turn them again.
        let _ = Orientation::remove_from_exif_chunk(&mut exif);
        exif
    });
    let encoded = encode_jpeg(&image, PHOTO_QUALITY, kept_exif)?;
    Ok(Prepared {
        bytes: encoded,
        media_type: MediaType::Jpeg,
        size_px: Some((image.width(), image.height())),
        thumb,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb};

    /// A minimal big-endian TIFF chunk (as in a JPEG's APP1 after `Exif\0\0`) with an
    /// orientation entry and a GPS IFD pointer (tag 0x8825) to an empty GPS IFD.
    pub(crate) fn exif_with_gps(orientation: u16) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(b"MM\0\x2a");
        t.extend_from_slice(&8u32.to_be_bytes()); // IFD0 at 8
        t.extend_from_slice(&2u16.to_be_bytes()); // two entries
        // Orientation (0x0112), SHORT, 1, value.
        t.extend_from_slice(&0x0112u16.to_be_bytes());
        t.extend_from_slice(&3u16.to_be_bytes());
        t.extend_from_slice(&1u32.to_be_bytes());
        t.extend_from_slice(&orientation.to_be_bytes());
        t.extend_from_slice(&[0, 0]);
        // GPS IFD pointer (0x8825), LONG, 1, offset 38.
        t.extend_from_slice(&0x8825u16.to_be_bytes());
        t.extend_from_slice(&4u16.to_be_bytes());
        t.extend_from_slice(&1u32.to_be_bytes());
        t.extend_from_slice(&38u32.to_be_bytes());
        t.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        // GPS IFD: no entries, no next IFD.
        t.extend_from_slice(&0u16.to_be_bytes());
        t.extend_from_slice(&0u32.to_be_bytes());
        t
    }

    fn jpeg(width: u32, height: u32, exif: Option<Vec<u8>>) -> Vec<u8> {
        let image = ImageBuffer::from_fn(width, height, |x, y| {
            Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
        });
        encode_jpeg(&DynamicImage::ImageRgb8(image), 90, exif).unwrap()
    }

    fn exif_of(bytes: &[u8]) -> Option<Vec<u8>> {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Jpeg);
        reader.limits(decoding_limits());
        reader.into_decoder().unwrap().exif_metadata().unwrap()
    }

    #[test]
    fn a_rotated_photo_is_turned_upright_scaled_and_stripped() {
        // Orientation 6: the camera was held upright, the pixels lie on their side.
        let original = jpeg(800, 600, Some(exif_with_gps(6)));
        let prepared = prepare(original, 400, false).unwrap();
        assert_eq!(prepared.media_type, MediaType::Jpeg);
        assert_eq!(prepared.size_px, Some((300, 400)));
        assert_eq!(exif_of(&prepared.bytes), None);
        let thumb = image::load_from_memory(prepared.thumb.as_deref().unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (240, 320));
    }

    #[test]
    fn kept_metadata_loses_only_its_orientation() {
        let original = jpeg(800, 600, Some(exif_with_gps(6)));
        let prepared = prepare(original, 400, true).unwrap();
        let exif = exif_of(&prepared.bytes).expect("the EXIF segment is kept");
        assert_eq!(
            Orientation::from_exif_chunk(&exif),
            Some(Orientation::NoTransforms)
        );
        assert!(
            exif.windows(2).any(|w| w == [0x88, 0x25]),
            "GPS pointer kept"
        );
    }

    #[test]
    fn a_small_photo_without_metadata_is_kept_byte_for_byte() {
        let original = jpeg(640, 480, None);
        let prepared = prepare(original.clone(), 1600, false).unwrap();
        assert_eq!(prepared.bytes, original);
        assert_eq!(prepared.size_px, Some((640, 480)));
        // With a GPS position it is re-encoded, even when small.
        let located = jpeg(640, 480, Some(exif_with_gps(1)));
        let prepared = prepare(located.clone(), 1600, false).unwrap();
        assert_ne!(prepared.bytes, located);
        assert_eq!(exif_of(&prepared.bytes), None);
    }

    #[test]
    fn other_files_and_lying_pictures_are_refused() {
        for bad in [
            &b""[..],
            b"<html>hello</html>",
            b"\xFF\xD8\xFFnot really a jpeg",
        ] {
            let err = prepare(bad.to_vec(), 1600, false).unwrap_err();
            assert!(
                matches!(err, GridbookError::UnsupportedFile { .. }),
                "{err}"
            );
        }
        let pdf = b"%PDF-1.7\n%binary\n".to_vec();
        let prepared = prepare(pdf.clone(), 1600, false).unwrap();
        assert_eq!((prepared.bytes, prepared.media_type), (pdf, MediaType::Pdf));
        assert!(prepared.thumb.is_none());
    }

    #[test]
    fn a_picture_claiming_huge_dimensions_is_refused_before_allocating() {
        // A PNG header that claims 60000 x 60000 pixels (10.8 GB as RGB).
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&60_000u32.to_be_bytes());
        ihdr.extend_from_slice(&60_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        let err = prepare(png, 1600, false).unwrap_err();
        assert!(
            matches!(err, GridbookError::UnsupportedFile { .. }),
            "{err}"
        );
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
