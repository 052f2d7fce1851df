//! Thumbnails of pictures: decoded within limits (a crafted picture that claims a huge size
//! is refused before its pixels are allocated), turned upright by its EXIF orientation,
//! scaled to [`THUMB_SIDE`] on the longest side and encoded as JPEG.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};

/// The longest side of a thumbnail, in pixels.
pub const THUMB_SIDE: u32 = 320;
/// JPEG quality of thumbnails.
const THUMB_QUALITY: u8 = 80;
/// Most pixels per side a picture may have to get a thumbnail.
const MAX_SIDE: u32 = sync_core::models::attachment::MAX_PIXELS_PER_SIDE;
/// Most memory decoding one picture may take.
const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// Why no thumbnail could be made.
#[derive(Debug, thiserror::Error)]
pub enum ThumbError {
    /// The file could not be read.
    #[error("cannot read the picture: {0}")]
    Io(#[from] std::io::Error),
    /// The picture does not decode (or breaks the limits).
    #[error("the picture does not decode: {0}")]
    Image(#[from] image::ImageError),
}

/// Makes the JPEG thumbnail of the picture at `path`.
pub fn make(path: &Path) -> Result<Vec<u8>, ThumbError> {
    let reader = ImageReader::open(path)?.with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    let mut decoder = {
        let mut reader = reader;
        reader.limits(limits);
        reader.into_decoder()?
    };
    let orientation = decoder.orientation()?;
    let mut picture = DynamicImage::from_decoder(decoder)?;
    picture.apply_orientation(orientation);
    let small = picture.thumbnail(THUMB_SIDE, THUMB_SIDE).to_rgb8();
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, THUMB_QUALITY)
        .encode_image(&small)?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_photo_becomes_a_small_jpeg_and_a_lying_header_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("photo.png");
        image::RgbImage::from_fn(1200, 800, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        })
        .save(&photo)
        .unwrap();
        let thumb = make(&photo).unwrap();
        let decoded = image::load_from_memory(&thumb).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (320, 213));

        // A PNG header claiming 60,000 × 60,000 pixels is refused before any allocation.
        let mut bomb = Vec::new();
        bomb.extend_from_slice(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR");
        bomb.extend_from_slice(&60_000u32.to_be_bytes());
        bomb.extend_from_slice(&60_000u32.to_be_bytes());
        bomb.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        let bomb_path = dir.path().join("bomb.png");
        std::fs::write(&bomb_path, bomb).unwrap();
        assert!(make(&bomb_path).is_err());
    }
}
