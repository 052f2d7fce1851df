//! The phone's store is encrypted at rest (SQLCipher) with the key the app gives at open:
//! on disk neither the database file nor its WAL shows a resident's ID number, phone, name or
//! address, or even SQLite's header; only the right key reads the records back, and a wrong
//! or empty key is refused without changing the file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use gridbook_mobile::{GridbookError, Phone};
use sync_core::models::HouseholdPrivate;
use sync_core::models::household::{Address, Household};
use sync_core::record::Place;

/// A raw 256-bit key (64 hex characters), as an app keeps in the Keystore or Keychain.
const KEY: &str = "9d2c41e07b5a38f6c1e4d7a02b9f65c83e17a4d0f6b29c58e3a71d4f08c6b2e5";
const ID_NUMBER_BORN: &str = "19900101";
const PHONE_NUMBER: &str = "13912345678";
const NAME: &str = "王秀英";
const COMPOUND: &str = "乌江水岸";

fn place() -> Place {
    Place {
        community: "dzk".parse().unwrap(),
        grid: "dzk-01".parse().unwrap(),
    }
}

fn open(path: &Path, key: &str) -> Result<Arc<Phone>, GridbookError> {
    Phone::open(path.to_string_lossy().into_owned(), key.into())
}

/// A store at `dir/phone.db` holding two households, one with a resident with an ID number
/// and a phone, edited once. Returns the open phone, the ID number and the household.
fn store_with_a_resident(dir: &Path) -> (Arc<Phone>, String, Household) {
    let phone = open(&dir.join("phone.db"), KEY).unwrap();
    let mut home = Household::new(
        place(),
        Address {
            compound: COMPOUND.into(),
            building: "3".into(),
            unit: "1".into(),
            room: "402".into(),
        },
    );
    let (resident, mut identity, id_number) =
        gridbook_tests::resident_with_id_number(NAME, ID_NUMBER_BORN);
    identity.phone = Some(PHONE_NUMBER.into());
    home.residents.push(resident);
    phone.create_household(home.clone()).unwrap();
    // The ID number and the phone are in the household's private document.
    let mut private = HouseholdPrivate::empty(&home.id, home.place.clone());
    private.residents.push(identity);
    assert!(phone.save_household_private(private, None).unwrap());
    let mut edited = phone.household(home.id.to_string()).unwrap();
    edited.notes = format!("{NAME} 独居, 电话 {PHONE_NUMBER}");
    phone.update_household(edited, None).unwrap();
    let neighbour = Household::new(
        place(),
        Address {
            compound: COMPOUND.into(),
            building: "3".into(),
            unit: "1".into(),
            room: "401".into(),
        },
    );
    phone.create_household(neighbour).unwrap();
    let home = phone.household(home.id.to_string()).unwrap();
    (phone, id_number, home)
}

/// Every file in `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

/// `text` as it may appear on disk: as is, and inside standard base64 (how the store's JSON
/// carries document bytes) at each of the three alignments.
fn encodings(text: &str) -> Vec<Vec<u8>> {
    let mut out = vec![text.as_bytes().to_vec()];
    for skip in 0..3 {
        let part = &text.as_bytes()[skip..];
        let whole = part.len() / 3 * 3;
        out.push(
            base64::engine::general_purpose::STANDARD
                .encode(&part[..whole])
                .into_bytes(),
        );
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Panics if any file of `dir` shows personal data, or SQLite's header, in the clear.
fn assert_nothing_readable(dir: &Path, id_number: &str, when: &str) {
    let secrets = [
        ("the ID number", id_number),
        ("the phone number", PHONE_NUMBER),
        ("the resident's name", NAME),
        ("the address", COMPOUND),
        ("SQLite's header", "SQLite format 3"),
    ];
    for (name, bytes) in files(dir) {
        assert!(
            !bytes.is_empty() || name.ends_with("-wal"),
            "{when}: {name} is empty"
        );
        for (what, secret) in secrets {
            for encoded in encodings(secret) {
                assert!(
                    !contains(&bytes, &encoded),
                    "{when}: {what} is readable in {name}"
                );
            }
        }
    }
}

#[test]
fn the_store_and_its_wal_show_no_personal_data_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (phone, id_number, _) = store_with_a_resident(dir.path());
    // While open, the recent writes are in the WAL.
    let open_files = files(dir.path());
    assert!(
        open_files
            .get("phone.db-wal")
            .is_some_and(|wal| !wal.is_empty()),
        "the store writes ahead to its WAL: {:?}",
        open_files.keys()
    );
    assert_nothing_readable(dir.path(), &id_number, "while open");
    drop(phone);
    assert_nothing_readable(dir.path(), &id_number, "after closing");
}

#[test]
fn the_right_key_reads_every_record_back() {
    let dir = tempfile::tempdir().unwrap();
    let (phone, id_number, home) = store_with_a_resident(dir.path());
    drop(phone);
    let phone = open(&dir.path().join("phone.db"), KEY).unwrap();
    assert_eq!(phone.check_store().unwrap(), "ok");
    // Two households and the private document of one.
    assert_eq!(phone.list(None, None, false, 100, 0).unwrap().len(), 3);
    assert_eq!(phone.pending_count(), 3);
    let read = phone.household(home.id.to_string()).unwrap();
    assert_eq!(read, home);
    let private = phone
        .household_private(home.id.to_string())
        .unwrap()
        .expect("the private document");
    assert_eq!(
        private.residents[0].id_number.as_deref(),
        Some(id_number.as_str())
    );
    assert_eq!(private.residents[0].phone.as_deref(), Some(PHONE_NUMBER));
    // Search reads the encrypted projection too.
    assert_eq!(
        phone
            .list(None, Some(NAME.into()), false, 100, 0)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_wrong_key_is_refused_and_leaves_the_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (phone, _, home) = store_with_a_resident(dir.path());
    drop(phone);
    let path = dir.path().join("phone.db");
    let before = files(dir.path());
    let other_raw_key = KEY.replace('9', "8");
    for wrong in [other_raw_key.as_str(), "a passphrase", &KEY[..63]] {
        let err = open(&path, wrong).unwrap_err();
        assert!(matches!(err, GridbookError::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains("key"), "{err}");
        assert_eq!(files(dir.path()), before, "a wrong key changed the store");
    }
    let phone = open(&path, KEY).unwrap();
    assert_eq!(phone.household(home.id.to_string()).unwrap(), home);
}

#[test]
fn an_empty_key_is_refused_and_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    let err = open(&path, "").unwrap_err();
    assert!(matches!(err, GridbookError::WrongKey { .. }), "{err}");
    assert!(err.to_string().contains("empty"), "{err}");
    assert!(!path.exists(), "no unencrypted store was created");

    let (phone, _, home) = store_with_a_resident(dir.path());
    drop(phone);
    let before = files(dir.path());
    let err = open(&dir.path().join("phone.db"), "").unwrap_err();
    assert!(matches!(err, GridbookError::WrongKey { .. }), "{err}");
    assert_eq!(files(dir.path()), before);
    let phone = open(&dir.path().join("phone.db"), KEY).unwrap();
    assert_eq!(phone.household(home.id.to_string()).unwrap(), home);
}

/// A PNG of `side` x `side` pixels of noise from `seed`: small, without metadata, so the
/// phone keeps it byte for byte (its exact bytes must then not show on disk).
fn noise_png(side: u32, seed: u32) -> Vec<u8> {
    let mut state = seed;
    let image = image::RgbImage::from_fn(side, side, |_, _| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let [a, b, c, _] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn attached_photos_and_files_are_not_readable_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (phone, id_number, home) = store_with_a_resident(dir.path());
    let photo = noise_png(200, 7);
    let pdf = format!("%PDF-1.7\n(调解协议 {NAME} 身份证 {id_number})\n%%EOF\n").into_bytes();
    for bytes in [photo.clone(), pdf.clone()] {
        phone
            .attach(
                home.id.to_string(),
                gridbook_mobile::AttachSource::Bytes { bytes },
                gridbook_mobile::AttachOptions::default(),
            )
            .unwrap();
    }
    let attached = phone.household(home.id.to_string()).unwrap().attachments;
    assert_eq!(attached.len(), 2);
    // The photo was kept as it was: its bytes are what must not show.
    assert_eq!(attached[0].sha256, sync_core::ids::BlobHash::of(&photo));
    let check = |when: &str| {
        assert_nothing_readable(dir.path(), &id_number, when);
        for (name, bytes) in files(dir.path()) {
            // Any 64 bytes of the photo, at a few places, would betray it.
            for at in [100, photo.len() / 2, photo.len() - 64] {
                assert!(
                    !contains(&bytes, &photo[at..at + 64]),
                    "{when}: the photo's bytes are readable in {name}"
                );
            }
            assert!(
                !contains(&bytes, b"%PDF-1.7"),
                "{when}: the PDF is readable in {name}"
            );
        }
    };
    check("while open");
    drop(phone);
    check("after closing");
    let phone = open(&dir.path().join("phone.db"), KEY).unwrap();
    let sha = attached[0].sha256.to_string();
    assert_eq!(phone.attachment_bytes(sha, true).unwrap(), photo);
}
