//! Photo and file references in records: they merge like any list, their content never
//! changes, and a hazard is verified only with a photo after rectification.

use sync_core::doc::{Author, Document, DocumentError, actor_for_device};
use sync_core::ids::{BlobHash, DeviceId, DocId, ItemId, UserId};
use sync_core::models::case::{Case, CaseAction, CaseEvent, CaseKind, Urgency};
use sync_core::models::{Attachment, AttachmentStage, MediaType};
use sync_core::record::{Place, Role};
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;

fn ctx() -> ValidationContext {
    ValidationContext::default()
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn phone(device: &DeviceId, time: &str) -> Author {
    Author::new(actor_for_device(device), at(time))
}

fn photo(bytes: &[u8], device: &DeviceId, stage: Option<AttachmentStage>) -> Attachment {
    Attachment {
        id: ItemId::new(),
        sha256: BlobHash::of(bytes),
        media_type: MediaType::Jpeg,
        size: bytes.len() as u64,
        width: Some(1600),
        height: Some(1200),
        taken_at: at("2026-03-02T03:00:00Z"),
        device: device.clone(),
        caption: Some("楼道 stairwell".into()),
        location: None,
        stage,
        part: None,
    }
}

fn hazard(worker: &UserId, device: &DeviceId) -> Case {
    Case {
        id: DocId::new(),
        case_kind: CaseKind::Hazard,
        category: "fire_exit_blocked".into(),
        subject: "楼道堆放杂物".into(),
        description: String::new(),
        place: Place {
            community: "dzk".parse().unwrap(),
            grid: "dzk-01".parse().unwrap(),
        },
        location: None,
        household: None,
        parties: vec![],
        urgency: Urgency::Urgent,
        confidential: false,
        opened_by: worker.clone(),
        opened_at: at("2026-03-02T01:00:00Z"),
        events: vec![event(worker, device, CaseAction::Submit)],
        mediation: vec![],
        rectification: None,
        attachments: vec![],
    }
}

fn event(actor: &UserId, device: &DeviceId, action: CaseAction) -> CaseEvent {
    CaseEvent {
        id: ItemId::new(),
        actor: actor.clone(),
        role: Role::GridWorker,
        action,
        note: None,
        at: at("2026-03-02T04:00:00Z"),
        assignee: None,
        department: None,
        co_departments: vec![],
        delay_days: None,
        level: None,
        target: None,
        device: Some(device.clone()),
    }
}

#[test]
fn photos_attached_offline_on_two_phones_both_survive_the_merge() {
    let (worker, one, two) = (UserId::new(), DeviceId::new(), DeviceId::new());
    let mut a = Document::create(
        &hazard(&worker, &one),
        &phone(&one, "2026-03-02T01:00:00Z"),
        &ctx(),
    )
    .unwrap();
    let mut b = a.clone();
    a.update(
        &phone(&one, "2026-03-02T03:00:00Z"),
        &ctx(),
        |c: &mut Case| {
            c.attachments
                .push(photo(b"before", &one, Some(AttachmentStage::Before)));
            Ok::<_, DocumentError>(())
        },
    )
    .unwrap();
    b.update(
        &phone(&two, "2026-03-02T03:01:00Z"),
        &ctx(),
        |c: &mut Case| {
            c.attachments.push(photo(b"crowd", &two, None));
            c.attachments
                .push(photo(b"after", &two, Some(AttachmentStage::After)));
            Ok::<_, DocumentError>(())
        },
    )
    .unwrap();
    a.automerge_mut().merge(b.automerge_mut()).unwrap();
    b.automerge_mut().merge(a.automerge_mut()).unwrap();
    assert_eq!(a.json(), b.json());
    let merged: Case = a.read().unwrap();
    let mut hashes: Vec<_> = merged
        .attachments
        .iter()
        .map(|p| p.sha256.clone())
        .collect();
    hashes.sort();
    let mut expected = vec![
        BlobHash::of(b"before"),
        BlobHash::of(b"crowd"),
        BlobHash::of(b"after"),
    ];
    expected.sort();
    assert_eq!(hashes, expected);
    a.validate(&ctx()).unwrap();
}

#[test]
fn an_attachment_keeps_its_content_but_its_caption_may_be_corrected() {
    let (worker, one) = (UserId::new(), DeviceId::new());
    let mut case = hazard(&worker, &one);
    case.attachments
        .push(photo(b"before", &one, Some(AttachmentStage::Before)));
    let mut doc = Document::create(&case, &phone(&one, "2026-03-02T01:00:00Z"), &ctx()).unwrap();
    doc.update(
        &phone(&one, "2026-03-02T02:00:00Z"),
        &ctx(),
        |c: &mut Case| {
            c.attachments[0].caption = Some("三楼楼道".into());
            Ok::<_, DocumentError>(())
        },
    )
    .unwrap();
    let err = doc
        .update(
            &phone(&one, "2026-03-02T02:00:00Z"),
            &ctx(),
            |c: &mut Case| {
                c.attachments[0].sha256 = BlobHash::of(b"something else");
                Ok::<_, DocumentError>(())
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("attachment"), "{err}");
}

#[test]
fn stages_belong_to_their_kind_and_references_are_bounded() {
    let (worker, one) = (UserId::new(), DeviceId::new());
    let mut appeal = hazard(&worker, &one);
    appeal.case_kind = CaseKind::Appeal;
    appeal.category = "water_leak".into();
    appeal
        .attachments
        .push(photo(b"x", &one, Some(AttachmentStage::After)));
    let err = Document::create(&appeal, &phone(&one, "2026-03-02T01:00:00Z"), &ctx()).unwrap_err();
    assert!(err.to_string().contains("attachments[0].stage"), "{err}");

    let mut case = hazard(&worker, &one);
    let mut huge = photo(b"x", &one, None);
    huge.size = 51 * 1024 * 1024;
    huge.width = Some(0);
    huge.caption = Some("字".repeat(201));
    case.attachments.push(huge);
    let err = Document::create(&case, &phone(&one, "2026-03-02T01:00:00Z"), &ctx()).unwrap_err();
    let text = err.to_string();
    for field in [
        "attachments[0].size",
        "attachments[0].width",
        "attachments[0].caption",
    ] {
        assert!(text.contains(field), "{field} in {text}");
    }
}

#[test]
fn a_hazard_is_verified_only_with_a_photo_after_rectification() {
    let (worker, one, checker) = (UserId::new(), DeviceId::new(), DeviceId::new());
    let before = hazard(&worker, &one);
    let mut after = before.clone();
    after
        .events
        .push(event(&UserId::new(), &checker, CaseAction::VerifyPass));
    let err = Case::check_evidence(Some(&before), &after, &ctx()).unwrap_err();
    assert_eq!(err.errors[0].field, "attachments");

    // A photo before rectification is not enough.
    after
        .attachments
        .push(photo(b"before", &one, Some(AttachmentStage::Before)));
    assert!(Case::check_evidence(Some(&before), &after, &ctx()).is_err());
    after
        .attachments
        .push(photo(b"after", &one, Some(AttachmentStage::After)));
    Case::check_evidence(Some(&before), &after, &ctx()).unwrap();

    // Only new events are judged: a case verified before the rule stays acceptable, and a
    // deployment may turn the rule off.
    let mut old = before.clone();
    old.events
        .push(event(&UserId::new(), &checker, CaseAction::VerifyPass));
    Case::check_evidence(Some(&old), &old, &ctx()).unwrap();
    let off = ValidationContext {
        after_photo_to_verify: false,
        ..ctx()
    };
    Case::check_evidence(None, &old, &off).unwrap();
    assert!(Case::check_evidence(None, &old, &ctx()).is_err());
}
