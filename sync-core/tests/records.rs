//! Records as Automerge documents: typed editing, validation errors, merge, conflicts, history.

use automerge::ReadDoc;
use automerge::transaction::Transactable;
use serde_json::json;
use sync_core::conflicts::{self, FieldPath, PathSegment, ResolveError};
use sync_core::doc::{Author, Document, DocumentError, actor_for_device, device_of_actor};
use sync_core::history::{self, EditKind};
use sync_core::ids::{DeviceId, DocId, ItemId, ResidentId, UserId};
use sync_core::models::case::{Case, CaseAction, CaseEvent, CaseKind, Urgency};
use sync_core::models::household::{
    Address, Gender, Household, HouseholdStatus, Relation, Resident, ResidentStatus,
};
use sync_core::models::household_private::{
    self, HouseholdPrivate, ResidentIdentity, SpecialGroup,
};
use sync_core::models::visit::{Visit, VisitMethod};
use sync_core::models::{Activity, AnyRecord};
use sync_core::protocol::{Bytes, DocPush, codes};
use sync_core::record::{Place, RecordKind, Role};
use sync_core::server::{Caller, GridScope, PushOutcome, StoredRecord, apply_push};
use sync_core::time::{Date, Timestamp};
use sync_core::validate::{ValidationContext, id_number_check_char};

fn ctx() -> ValidationContext {
    ValidationContext::default()
}

fn place() -> Place {
    Place {
        community: "dzk".parse().unwrap(),
        grid: "dzk-01".parse().unwrap(),
    }
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// The device the cases of these tests are opened on.
fn opener_device() -> DeviceId {
    "0192f1e6-7a1b-7c3d-8e4f-5a6b7c8d9e0f".parse().unwrap()
}

fn phone(time: &str) -> Author {
    Author::new(actor_for_device(&DeviceId::new()), at(time))
}

fn id_number(born: &str) -> String {
    let first17 = format!("520627{born}123");
    let check = id_number_check_char(&first17).unwrap();
    format!("{first17}{check}")
}

fn resident(name: &str) -> Resident {
    Resident {
        id: ResidentId::new(),
        name: name.into(),
        gender: Gender::Female,
        relation: Relation::Head,
        status: ResidentStatus::Present,
        moved_in: None,
        moved_out: None,
    }
}

/// The identity of resident `id`, born on `born` (`YYYYMMDD`): a valid ID number, the birth
/// date and a phone number.
fn identity(id: &ResidentId, born: &str) -> ResidentIdentity {
    ResidentIdentity {
        id: id.clone(),
        id_number: Some(id_number(born)),
        phone: Some("13800001234".into()),
        birth_date: Some(
            format!("{}-{}-{}", &born[..4], &born[4..6], &born[6..])
                .parse()
                .unwrap(),
        ),
        special_groups: vec![],
    }
}

fn household() -> Household {
    let mut h = Household::new(
        place(),
        Address {
            compound: "乌江水岸".into(),
            building: "3".into(),
            unit: "1".into(),
            room: "402".into(),
        },
    );
    h.residents.push(resident("王芳"));
    h
}

/// The private document of `h`, started canonically, with the first resident's identity
/// (born 1956-03-12) written by `author`.
fn private_doc(h: &Household, author: &Author) -> Document {
    let mut doc = HouseholdPrivate::genesis(&h.id, h.place.clone()).unwrap();
    doc.update(author, &ctx(), |p: &mut HouseholdPrivate| {
        p.residents.push(identity(&h.residents[0].id, "19560312"));
        Ok::<_, DocumentError>(())
    })
    .unwrap()
    .expect("a change was made");
    doc
}

fn first_error(err: DocumentError) -> (String, String) {
    match err {
        DocumentError::Invalid(inv) => {
            let e = inv.errors.into_iter().next().unwrap();
            (e.field, e.message)
        }
        other => panic!("expected a validation error, got {other}"),
    }
}

#[test]
fn a_created_household_reads_back_and_its_json_view_has_the_header() {
    let h = household();
    let doc = Document::create(&h, &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    assert_eq!(doc.read::<Household>().unwrap(), h);
    let json = doc.json();
    assert_eq!(json["kind"], "household");
    assert_eq!(json["schema"], 1);
    assert_eq!(json["id"], h.id.as_str());
    assert_eq!(json["residents"][0]["name"], "王芳");
    let reopened = Document::load(&doc.save()).unwrap();
    assert_eq!(reopened.read::<Household>().unwrap(), h);
    assert!(matches!(
        doc.read::<Visit>(),
        Err(DocumentError::WrongKind { .. })
    ));
}

#[test]
fn an_edit_writes_only_the_fields_that_changed() {
    let mut doc = Document::create(&household(), &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    let before = doc.heads();
    let hash = doc
        .update(
            &phone("2026-03-02T02:00:00Z"),
            &ctx(),
            |h: &mut Household| {
                h.notes = "独居".into();
                Ok::<_, DocumentError>(())
            },
        )
        .unwrap()
        .expect("a change was made");
    let changes = doc.automerge().get_changes(&before);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].hash(), hash);
    assert_eq!(changes[0].len(), 1, "one op: the notes field");
    // An edit that changes nothing makes no change.
    let none = doc
        .update(
            &phone("2026-03-02T03:00:00Z"),
            &ctx(),
            |_: &mut Household| Ok::<_, DocumentError>(()),
        )
        .unwrap();
    assert_eq!(none, None);
}

#[test]
fn concurrent_edits_of_different_fields_and_list_inserts_all_survive_the_merge() {
    let mut a = Document::create(&household(), &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    let mut b = a.clone();
    let mut c = a.clone();
    a.update(
        &phone("2026-03-02T02:00:00Z"),
        &ctx(),
        |h: &mut Household| {
            h.notes = "老人独居".into();
            h.residents.push(resident("李强"));
            Ok::<_, DocumentError>(())
        },
    )
    .unwrap();
    b.update(
        &phone("2026-03-02T02:01:00Z"),
        &ctx(),
        |h: &mut Household| {
            h.liaison_group = Some("dzk-01-l3".parse().unwrap());
            h.residents.push(resident("张丽"));
            h.tags.push("rental".into());
            Ok::<_, DocumentError>(())
        },
    )
    .unwrap();
    c.update(
        &phone("2026-03-02T02:02:00Z"),
        &ctx(),
        |h: &mut Household| {
            h.residents[0].moved_in = Date::from_ymd(2001, 9, 1);
            h.tags.push("elderly".into());
            Ok::<_, DocumentError>(())
        },
    )
    .unwrap();
    a.automerge_mut().merge(b.automerge_mut()).unwrap();
    a.automerge_mut().merge(c.automerge_mut()).unwrap();
    c.automerge_mut().merge(a.automerge_mut()).unwrap();
    assert_eq!(a.heads(), c.heads());
    assert_eq!(a.json(), c.json());
    let merged: Household = a.read().unwrap();
    assert_eq!(merged.notes, "老人独居");
    assert_eq!(merged.liaison_group.unwrap().as_str(), "dzk-01-l3");
    assert_eq!(merged.residents[0].moved_in, Date::from_ymd(2001, 9, 1));
    let mut names: Vec<_> = merged.residents.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["张丽", "李强", "王芳"]);
    let mut tags = merged.tags.clone();
    tags.sort();
    assert_eq!(tags, ["elderly", "rental"]);
    assert!(conflicts::conflicts(&a).is_empty());
    a.validate(&ctx()).unwrap();
}

#[test]
fn concurrent_writes_of_one_field_are_listed_with_who_and_when_and_can_be_resolved() {
    let base = Document::create(&household(), &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    let device_a = DeviceId::new();
    let device_b = DeviceId::new();
    let mut a = base.clone();
    let mut b = base.clone();
    let author_a = Author::new(actor_for_device(&device_a), at("2026-03-03T02:00:00Z"));
    let author_b = Author::new(actor_for_device(&device_b), at("2026-03-03T03:00:00Z"));
    a.update(&author_a, &ctx(), |h: &mut Household| {
        h.residents[0].name = "王芳芳".into();
        Ok::<_, DocumentError>(())
    })
    .unwrap();
    b.update(&author_b, &ctx(), |h: &mut Household| {
        h.residents[0].name = "汪芳".into();
        Ok::<_, DocumentError>(())
    })
    .unwrap();
    a.automerge_mut().merge(b.automerge_mut()).unwrap();

    let found = conflicts::conflicts(&a);
    assert_eq!(found.len(), 1);
    let conflict = &found[0];
    assert_eq!(conflict.field, "residents[0].name");
    assert_eq!(conflict.values.len(), 2);
    assert!(conflict.values[0].shown && !conflict.values[1].shown);
    let mut seen: Vec<(String, DeviceId, Timestamp)> = conflict
        .values
        .iter()
        .map(|v| {
            (
                v.value.as_str().unwrap().to_owned(),
                v.written_by.device.clone().unwrap(),
                v.written_by.at.unwrap(),
            )
        })
        .collect();
    seen.sort_by_key(|s| s.2);
    assert_eq!(
        seen,
        [
            ("王芳芳".to_owned(), device_a, at("2026-03-03T02:00:00Z")),
            ("汪芳".to_owned(), device_b, at("2026-03-03T03:00:00Z")),
        ]
    );

    // A supervisor picks the older spelling; the choice is an ordinary change.
    let supervisor = Author::new(
        actor_for_device(&DeviceId::new()),
        at("2026-03-04T01:00:00Z"),
    );
    let hash = conflicts::resolve(
        &mut a,
        &supervisor,
        &ctx(),
        &conflict.path,
        &json!("王芳芳"),
    )
    .unwrap();
    assert!(conflicts::conflicts(&a).is_empty());
    assert_eq!(a.read::<Household>().unwrap().residents[0].name, "王芳芳");
    // The resolution reaches a replica that still has the conflict and ends it there too.
    let resolution = a.automerge().get_change_by_hash(&hash).unwrap();
    b.automerge_mut().apply_changes([resolution]).unwrap();
    let mut other = base.clone();
    other.automerge_mut().merge(a.automerge_mut()).unwrap();
    assert!(conflicts::conflicts(&other).is_empty());

    // Resolving again, or with a value that breaks the schema, is refused.
    assert!(matches!(
        conflicts::resolve(&mut a, &supervisor, &ctx(), &conflict.path, &json!("x")),
        Err(ResolveError::NotInConflict(_))
    ));
}

#[test]
fn resolving_with_an_invalid_value_writes_nothing() {
    let base = Document::create(&household(), &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    let mut a = base.clone();
    let mut b = base.clone();
    for (doc, name) in [(&mut a, "王芳芳"), (&mut b, "汪芳")] {
        doc.update(
            &phone("2026-03-03T02:00:00Z"),
            &ctx(),
            |h: &mut Household| {
                h.residents[0].name = name.into();
                Ok::<_, DocumentError>(())
            },
        )
        .unwrap();
    }
    a.automerge_mut().merge(b.automerge_mut()).unwrap();
    let heads = a.heads();
    let path = FieldPath(vec![
        PathSegment::Key("residents".into()),
        PathSegment::Index(0),
        PathSegment::Key("name".into()),
    ]);
    let err = conflicts::resolve(
        &mut a,
        &phone("2026-03-04T00:00:00Z"),
        &ctx(),
        &path,
        &json!(" "),
    )
    .unwrap_err();
    assert!(matches!(err, ResolveError::Invalid(_)), "{err}");
    assert_eq!(a.heads(), heads);
    let missing = FieldPath(vec![PathSegment::Key("nope".into())]);
    assert!(matches!(
        conflicts::resolve(
            &mut a,
            &phone("2026-03-04T00:00:00Z"),
            &ctx(),
            &missing,
            &json!(1)
        ),
        Err(ResolveError::NoSuchField(_))
    ));
}

#[test]
fn history_lists_each_change_with_device_time_message_and_fields() {
    let device = DeviceId::new();
    let actor = actor_for_device(&device);
    assert_eq!(device_of_actor(&actor), Some(device.clone()));
    let create = Author::new(actor.clone(), at("2026-03-02T01:00:00Z"))
        .with_message("建档 create household");
    let mut doc = Document::create(&household(), &create, &ctx()).unwrap();
    let edit = Author::new(actor, at("2026-03-05T08:30:00Z")).with_message("update name");
    doc.update(&edit, &ctx(), |h: &mut Household| {
        h.residents[0].name = "王芳芳".into();
        h.notes = "visited".into();
        Ok::<_, DocumentError>(())
    })
    .unwrap();
    let entries = history::history(&doc);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].message.as_deref(), Some("建档 create household"));
    assert!(entries[0].edits.iter().any(|e| e.field == "kind"));
    assert!(
        entries[0]
            .edits
            .iter()
            .any(|e| e.field == "residents[0]" && e.edit == EditKind::Insert)
    );
    let last = &entries[1];
    assert_eq!(last.by.device, Some(device));
    assert_eq!(last.by.at, Some(at("2026-03-05T08:30:00Z")));
    assert_eq!(last.message.as_deref(), Some("update name"));
    assert_eq!(last.deps, vec![entries[0].change.clone()]);
    let mut fields: Vec<_> = last
        .edits
        .iter()
        .map(|e| (e.field.as_str(), e.edit))
        .collect();
    fields.sort_unstable_by_key(|f| f.0);
    assert_eq!(
        fields,
        [
            ("notes", EditKind::Set),
            ("residents[0].name", EditKind::Set)
        ]
    );
    assert_eq!(
        last.edits
            .iter()
            .find(|e| e.field == "notes")
            .unwrap()
            .value,
        Some(json!("visited"))
    );
}

/// A household with `n` more changes by one phone, each setting `notes` (raw Automerge
/// changes, as a backlog of edits would be).
fn household_with_note_changes(n: usize) -> Document {
    let author = phone("2026-03-02T01:00:00Z");
    let mut doc = Document::create(&household(), &author, &ctx()).unwrap();
    let am = doc.automerge_mut();
    for i in 0..n {
        let mut tx = am.transaction();
        tx.put(automerge::ROOT, "notes", format!("n{i}")).unwrap();
        tx.commit_with(
            automerge::transaction::CommitOptions::default()
                .with_time(author.at.millis() + i as i64 * 1000),
        );
    }
    doc
}

#[test]
fn history_pages_decode_only_their_own_changes_and_cover_the_whole_history() {
    let doc = household_with_note_changes(250);
    let all = history::history(&doc);
    assert_eq!(all.len(), 251);
    let never = || false;
    let mut newest_first = Vec::new();
    for page in 0..3 {
        let p = history::history_page(&doc, history::Order::NewestFirst, page * 100, 100, &never)
            .unwrap();
        assert_eq!(p.total, 251);
        // Linear: a page costs its own changes, never the whole document per change.
        assert_eq!(p.decoded, p.entries.len());
        assert_eq!(p.entries.len(), if page < 2 { 100 } else { 51 });
        newest_first.extend(p.entries);
    }
    let mut oldest_first = newest_first.clone();
    oldest_first.reverse();
    assert_eq!(oldest_first, all);
    assert_eq!(newest_first[0].edits[0].field, "notes");
    assert_eq!(newest_first[0].edits[0].value, Some(json!("n249")));
    let p = history::history_page(&doc, history::Order::OldestFirst, 1, 2, &never).unwrap();
    assert_eq!(p.entries, all[1..3]);
    let past = history::history_page(&doc, history::Order::OldestFirst, 251, 10, &never).unwrap();
    assert_eq!((past.entries.len(), past.decoded, past.total), (0, 0, 251));
}

#[test]
fn history_work_stops_as_soon_as_its_caller_gives_up() {
    let doc = household_with_note_changes(100);
    let asked = std::cell::Cell::new(0);
    let gone_after_ten = || {
        asked.set(asked.get() + 1);
        asked.get() > 10
    };
    let result = history::history_page(&doc, history::Order::NewestFirst, 0, 100, &gone_after_ten);
    assert_eq!(result, Err(history::Cancelled));
    assert_eq!(asked.get(), 11, "no change is read once the caller is gone");
}

#[test]
fn history_lists_at_most_fifty_edits_per_change_and_counts_the_rest() {
    let mut doc = Document::create(&household(), &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    doc.update(
        &phone("2026-03-02T02:00:00Z"),
        &ctx(),
        |h: &mut Household| {
            h.tags = (0..120).map(|i| format!("tag-{i}")).collect();
            Ok::<_, DocumentError>(())
        },
    )
    .unwrap();
    let entries = history::history(&doc);
    let last = entries.last().unwrap();
    assert_eq!(last.edits.len(), history::MAX_EDITS_PER_ENTRY);
    assert_eq!(last.more_edits, 120 - history::MAX_EDITS_PER_ENTRY);
    assert_eq!(last.edits[0].field, "tags[0]");
    assert_eq!(last.edits[0].edit, EditKind::Insert);
    assert_eq!(last.edits[0].value, Some(json!("tag-0")));
    assert_eq!(last.edits[49].field, "tags[49]");
}

#[test]
fn history_names_list_positions_deletes_and_text_edits_as_the_record_is_now() {
    let author = phone("2026-03-02T01:00:00Z");
    let mut h = household();
    h.tags = vec!["a".into(), "b".into(), "c".into()];
    let mut doc = Document::create(&h, &author, &ctx()).unwrap();
    // Remove "a", set the (now first) "b", and write a text object (as an Automerge JS client
    // might).
    let am = doc.automerge_mut();
    let (_, tags) = am.get(automerge::ROOT, "tags").unwrap().unwrap();
    let mut tx = am.transaction();
    tx.delete(&tags, 0).unwrap();
    tx.put(&tags, 0, "B").unwrap();
    let text = tx
        .put_object(automerge::ROOT, "memo", automerge::ObjType::Text)
        .unwrap();
    tx.splice_text(&text, 0, 0, "三楼漏水").unwrap();
    tx.commit();
    let entries = history::history(&doc);
    let edits: Vec<(&str, EditKind)> = entries[1]
        .edits
        .iter()
        .map(|e| (e.field.as_str(), e.edit))
        .collect();
    assert_eq!(
        edits,
        [
            ("tags[0]", EditKind::Delete),
            ("tags[0]", EditKind::Set),
            ("memo", EditKind::Set),
            ("memo", EditKind::EditText),
        ]
    );
    assert_eq!(entries[1].edits[1].value, Some(json!("B")));
    // The creation inserted the three tags where they are now ("a" is gone: where it was).
    let inserts: Vec<&str> = entries[0]
        .edits
        .iter()
        .filter(|e| e.edit == EditKind::Insert && e.field.starts_with("tags"))
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(inserts, ["tags[0]", "tags[0]", "tags[1]"]);
}

#[test]
fn a_resident_id_number_failing_the_check_digit_is_rejected_naming_the_field() {
    let h = household();
    let mut doc = HouseholdPrivate::genesis(&h.id, h.place.clone()).unwrap();
    let heads = doc.heads();
    let mut entry = identity(&h.residents[0].id, "19560312");
    let mut bad = id_number("19560312");
    let last = if bad.ends_with('0') { '1' } else { '0' };
    bad.pop();
    bad.push(last);
    entry.id_number = Some(bad);
    let err = doc
        .update(
            &phone("2026-03-02T01:00:00Z"),
            &ctx(),
            |p: &mut HouseholdPrivate| {
                p.residents.push(entry);
                Ok::<_, DocumentError>(())
            },
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(doc.id().as_str()), "names the record: {text}");
    assert_eq!(
        first_error(err),
        (
            "residents[0].id_number".into(),
            "fails the GB 11643 check digit".into()
        )
    );
    assert_eq!(doc.heads(), heads, "a refused edit writes nothing");
}

#[test]
fn every_household_rule_names_its_field() {
    type Edit = fn(&mut Household);
    let cases: Vec<(Edit, &str, &str)> = vec![
        (
            |h| h.address.compound = " ".into(),
            "address.compound",
            "must not be empty",
        ),
        (
            |h| h.address.room = String::new(),
            "address.room",
            "must not be empty",
        ),
        (
            |h| h.residents[0].name = String::new(),
            "residents[0].name",
            "must not be empty",
        ),
        (
            |h| h.residents[0].status = ResidentStatus::MovedOut,
            "residents[0].moved_out",
            "is required when status is moved_out",
        ),
        (
            |h| {
                h.residents[0].moved_in = Some(Date::from_ymd(2020, 1, 1).unwrap());
                h.residents[0].moved_out = Some(Date::from_ymd(2019, 1, 1).unwrap());
                h.residents[0].status = ResidentStatus::MovedOut;
            },
            "residents[0].moved_out",
            "must not be before moved_in",
        ),
        (
            |h| h.status = HouseholdStatus::Merged,
            "merged_into",
            "is required when status is merged",
        ),
        (
            |h| h.merged_into = Some(DocId::new()),
            "merged_into",
            "is only allowed when status is merged",
        ),
        (
            |h| h.tags.push(String::new()),
            "tags[0]",
            "must not be empty",
        ),
        (
            |h| h.notes = "字".repeat(4001),
            "notes",
            "must be at most 4000 characters",
        ),
    ];
    for (edit, field, message) in cases {
        let mut doc =
            Document::create(&household(), &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
        let heads = doc.heads();
        let err = doc
            .update(
                &phone("2026-03-02T02:00:00Z"),
                &ctx(),
                |h: &mut Household| {
                    edit(h);
                    Ok::<_, DocumentError>(())
                },
            )
            .unwrap_err();
        assert_eq!(first_error(err), (field.to_owned(), message.to_owned()));
        assert_eq!(doc.heads(), heads, "a refused edit writes nothing");
    }
}

fn membership(group: &str) -> SpecialGroup {
    SpecialGroup {
        id: ItemId::new(),
        group: group.into(),
        verified: false,
        valid_from: None,
        valid_until: None,
    }
}

#[test]
fn every_private_document_rule_names_its_field() {
    type Edit = fn(&mut HouseholdPrivate);
    let cases: Vec<(Edit, &str, &str)> = vec![
        (
            |p| p.residents[0].id_number = Some("12345".into()),
            "residents[0].id_number",
            "must be 17 digits followed by a digit or X",
        ),
        (
            |p| p.residents[0].birth_date = Some(Date::from_ymd(1957, 3, 12).unwrap()),
            "residents[0].id_number",
            "birth date in the ID number differs from birth_date",
        ),
        (
            |p| p.residents[0].phone = Some("call me".into()),
            "residents[0].phone",
            "is not a phone number",
        ),
        (
            |p| p.residents[0].special_groups.push(membership("unicorn")),
            "residents[0].special_groups[0].group",
            "is not a configured special group",
        ),
        (
            |p| {
                let twice = membership("dibao");
                p.residents[0].special_groups = vec![twice.clone(), twice];
            },
            "residents[0].special_groups[1].id",
            "is used twice",
        ),
        (
            |p| {
                let mut g = membership("dibao");
                g.valid_from = Date::from_ymd(2026, 6, 1);
                g.valid_until = Date::from_ymd(2026, 1, 1);
                p.residents[0].special_groups.push(g);
            },
            "residents[0].special_groups[0].valid_until",
            "must not be before valid_from",
        ),
        (
            |p| {
                let again = ResidentIdentity::new(p.residents[0].id.clone());
                p.residents.push(again);
            },
            "residents[1].id",
            "is used by two entries",
        ),
        (
            |p| p.notes = "字".repeat(4001),
            "notes",
            "must be at most 4000 characters",
        ),
        (
            |p| p.household = DocId::new(),
            "id",
            "is not the private document id of the household",
        ),
    ];
    let h = household();
    for (edit, field, message) in cases {
        let mut doc = private_doc(&h, &phone("2026-03-02T01:00:00Z"));
        let heads = doc.heads();
        let err = doc
            .update(
                &phone("2026-03-02T02:00:00Z"),
                &ctx(),
                |p: &mut HouseholdPrivate| {
                    edit(p);
                    Ok::<_, DocumentError>(())
                },
            )
            .unwrap_err();
        assert_eq!(first_error(err), (field.to_owned(), message.to_owned()));
        assert_eq!(doc.heads(), heads, "a refused edit writes nothing");
    }
}

#[test]
fn a_configured_special_group_is_accepted() {
    let mut ctx = ctx();
    ctx.special_groups.insert("returned_migrant".into());
    let h = household();
    let rid = h.residents[0].id.clone();
    let add = |p: &mut HouseholdPrivate| {
        p.resident_entry(&rid).special_groups.push(SpecialGroup {
            id: ItemId::new(),
            group: "returned_migrant".into(),
            verified: true,
            valid_from: Some(Date::from_ymd(2026, 1, 1).unwrap()),
            valid_until: Some(Date::from_ymd(2026, 12, 31).unwrap()),
        });
        Ok::<_, DocumentError>(())
    };
    let mut doc = HouseholdPrivate::genesis(&h.id, h.place.clone()).unwrap();
    doc.update(&phone("2026-03-02T01:00:00Z"), &ctx, add)
        .unwrap()
        .expect("a change was made");
    let mut other = HouseholdPrivate::genesis(&h.id, h.place.clone()).unwrap();
    assert!(
        other
            .update(
                &phone("2026-03-02T01:00:00Z"),
                &ValidationContext::default(),
                add
            )
            .is_err()
    );
}

/// Writes raw values into a household document, as a buggy or hostile client could.
fn raw_household_with(
    edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::ObjId),
) -> Document {
    let doc = Document::create(&household(), &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    raw_first_resident(doc, edit)
}

/// Writes raw values into a household's private document (into its first resident's entry).
fn raw_private_with(
    edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::ObjId),
) -> Document {
    let doc = private_doc(&household(), &phone("2026-03-02T01:00:00Z"));
    raw_first_resident(doc, edit)
}

fn raw_first_resident(
    mut doc: Document,
    edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &automerge::ObjId),
) -> Document {
    let am = doc.automerge_mut();
    let (_, resident) = am.get(automerge::ROOT, "residents").unwrap().unwrap();
    let (_, first) = am.get(&resident, 0).unwrap().unwrap();
    let mut tx = am.transaction();
    edit(&mut tx, &first);
    tx.commit();
    doc
}

#[test]
fn type_level_errors_in_a_document_name_the_field() {
    let cases: Vec<(Document, &str, &str)> = vec![
        (
            raw_household_with(|tx, r| {
                tx.put(r, "gender", "unknown").unwrap();
            }),
            "residents[0].gender",
            "unknown value `unknown`, expected one of: male, female",
        ),
        (
            raw_private_with(|tx, r| {
                tx.put(r, "birth_date", "1956/03/12").unwrap();
            }),
            "residents[0].birth_date",
            "expected a date as YYYY-MM-DD",
        ),
        (
            raw_household_with(|tx, r| {
                tx.put(r, "name", 42_i64).unwrap();
            }),
            "residents[0].name",
            "invalid type: integer `…`, expected a string",
        ),
        (
            raw_household_with(|tx, r| {
                tx.delete(r, "relation").unwrap();
            }),
            "residents[0]",
            "missing field `relation`",
        ),
        (
            raw_household_with(|tx, r| {
                tx.put(r, "nickname", "x").unwrap();
            }),
            "residents[0].nickname",
            "unknown field `nickname`, expected one of `id`, `name`",
        ),
        (
            raw_private_with(|tx, r| {
                tx.put(r, "nickname", "x").unwrap();
            }),
            "residents[0].nickname",
            "unknown field `nickname`, expected one of `id`, `id_number`",
        ),
    ];
    for (doc, field, message) in cases {
        let err = doc.validate(&ctx()).unwrap_err();
        assert_eq!(err.record.as_ref(), Some(doc.id()));
        let e = &err.errors[0];
        assert_eq!(e.field, field);
        assert!(
            e.message.starts_with(message),
            "{} does not start with {message}",
            e.message
        );
    }
}

#[test]
fn type_errors_never_echo_a_string_value() {
    let doc = raw_private_with(|tx, r| {
        tx.put(r, "phone", 13800001234_i64).unwrap();
    });
    let err = doc.validate(&ctx()).unwrap_err();
    assert_eq!(err.errors[0].field, "residents[0].phone");
    assert!(!err.to_string().contains("13800001234"), "{err}");
    let doc = raw_household_with(|tx, r| {
        tx.put(r, "name", 13800001234_i64).unwrap();
    });
    let err = doc.validate(&ctx()).unwrap_err();
    assert_eq!(err.errors[0].field, "residents[0].name");
    assert!(!err.to_string().contains("13800001234"), "{err}");
}

#[test]
fn residents_are_never_deleted_only_moved_out() {
    let mut doc = Document::create(&household(), &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    let err = doc
        .update(
            &phone("2026-03-02T02:00:00Z"),
            &ctx(),
            |h: &mut Household| {
                h.residents.clear();
                Ok::<_, DocumentError>(())
            },
        )
        .unwrap_err();
    assert_eq!(first_error(err).0, "residents");
    doc.update(
        &phone("2026-03-02T02:00:00Z"),
        &ctx(),
        |h: &mut Household| {
            h.residents[0].status = ResidentStatus::MovedOut;
            h.residents[0].moved_out = Some(Date::from_ymd(2026, 3, 1).unwrap());
            Ok::<_, DocumentError>(())
        },
    )
    .unwrap();
    assert_eq!(doc.read::<Household>().unwrap().residents.len(), 1);
}

fn case() -> Case {
    let worker = UserId::new();
    Case {
        attachments: Vec::new(),
        id: DocId::new(),
        case_kind: CaseKind::Hazard,
        category: "fire_exit_blocked".into(),
        subject: "楼道堆放杂物 stairwell blocked".into(),
        description: String::new(),
        place: place(),
        location: None,
        household: None,
        parties: vec![],
        urgency: Urgency::Urgent,
        confidential: false,
        opened_by: worker.clone(),
        opened_at: at("2026-03-02T01:00:00Z"),
        events: vec![CaseEvent {
            id: ItemId::new(),
            actor: worker,
            role: Role::GridWorker,
            action: CaseAction::Submit,
            note: None,
            at: at("2026-03-02T01:00:00Z"),
            assignee: None,
            delay_days: None,
            level: None,
            target: None,
            device: Some(opener_device()),
            department: None,
            co_departments: Vec::new(),
        }],
        mediation: vec![],
        rectification: None,
    }
}

#[test]
fn case_events_are_append_only_and_payloads_must_match_the_action() {
    let mut doc = Document::create(&case(), &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    let err = doc
        .update(&phone("2026-03-02T02:00:00Z"), &ctx(), |c: &mut Case| {
            c.events[0].note = Some("rewritten".into());
            Ok::<_, DocumentError>(())
        })
        .unwrap_err();
    assert_eq!(
        first_error(err),
        (
            "events".into(),
            "an event was edited; the log is append-only".into()
        )
    );
    let err = doc
        .update(&phone("2026-03-02T02:00:00Z"), &ctx(), |c: &mut Case| {
            c.events.clear();
            Ok::<_, DocumentError>(())
        })
        .unwrap_err();
    assert_eq!(
        first_error(err).1,
        "an event was removed; the log is append-only"
    );
    let err = doc
        .update(&phone("2026-03-02T02:00:00Z"), &ctx(), |c: &mut Case| {
            let mut e = c.events[0].clone();
            e.id = ItemId::new();
            e.action = CaseAction::Dispatch;
            c.events.push(e);
            Ok::<_, DocumentError>(())
        })
        .unwrap_err();
    assert_eq!(
        first_error(err),
        (
            "events[1].assignee".into(),
            "dispatch names an assignee or a department".into()
        )
    );
    let err = doc
        .update(&phone("2026-03-02T02:00:00Z"), &ctx(), |c: &mut Case| {
            let mut e = c.events[0].clone();
            e.id = ItemId::new();
            e.action = CaseAction::Reject;
            c.events.push(e);
            Ok::<_, DocumentError>(())
        })
        .unwrap_err();
    assert_eq!(
        first_error(err),
        (
            "events[1].note".into(),
            "a reason is required for reject".into()
        )
    );
    let err = doc
        .update(&phone("2026-03-02T02:00:00Z"), &ctx(), |c: &mut Case| {
            c.mediation.push(sync_core::models::case::MediationSession {
                id: ItemId::new(),
                at: at("2026-03-02T02:00:00Z"),
                mediators: vec!["调解员".into()],
                participants: vec![],
                summary: "谈话".into(),
                outcome: sync_core::models::case::MediationOutcome::Agreed,
            });
            Ok::<_, DocumentError>(())
        })
        .unwrap_err();
    assert_eq!(
        first_error(err),
        ("mediation".into(), "is only for disputes".into())
    );
}

#[test]
fn authorship_of_new_events_must_be_the_callers() {
    let c = case();
    let worker = c.opened_by.clone();
    let doc = Document::create(&c, &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    let record = AnyRecord::read(&doc).unwrap();
    let device = opener_device();
    AnyRecord::check_authorship(None, &record, &worker, Role::GridWorker, &device).unwrap();
    let err = AnyRecord::check_authorship(None, &record, &UserId::new(), Role::GridWorker, &device)
        .unwrap_err();
    assert_eq!(err.errors[0].field, "events");
    assert!(
        AnyRecord::check_authorship(None, &record, &worker, Role::CommunitySupervisor, &device)
            .is_err()
    );
    // A new event names the device that pushes it: another account on another phone cannot
    // pass an event off as written elsewhere, nor leave the device out.
    let err =
        AnyRecord::check_authorship(None, &record, &worker, Role::GridWorker, &DeviceId::new())
            .unwrap_err();
    assert!(err.errors[0].message.contains("device"), "{err:?}");
    // Events already present before are not the caller's responsibility.
    AnyRecord::check_authorship(Some(&record), &record, &UserId::new(), Role::Admin, &device)
        .unwrap();
}

#[test]
fn other_record_kinds_validate_their_own_rules() {
    let visit = Visit {
        attachments: Vec::new(),
        id: DocId::new(),
        place: place(),
        household: DocId::new(),
        worker: UserId::new(),
        at: at("2026-03-02T01:00:00Z"),
        method: VisitMethod::DoorToDoor,
        summary: String::new(),
        opened_cases: vec![],
    };
    let err = Document::create(&visit, &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap_err();
    assert_eq!(
        first_error(err),
        ("summary".into(), "must not be empty".into())
    );

    let activity = Activity {
        id: DocId::new(),
        place: place(),
        activity_kind: sync_core::models::activity::ActivityKind::Outreach,
        outreach_form: None,
        title: "反诈宣传 anti-fraud outreach".into(),
        at: at("2026-03-02T01:00:00Z"),
        location: "院坝".into(),
        organizer: UserId::new(),
        participants: vec![],
        head_count: 30,
        summary: String::new(),
    };
    let err = Document::create(&activity, &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap_err();
    assert_eq!(
        first_error(err),
        ("outreach_form".into(), "is required for outreach".into())
    );
}

#[test]
fn a_document_without_a_valid_header_is_refused() {
    let mut am = automerge::Automerge::new();
    let mut tx = am.transaction();
    tx.put(automerge::ROOT, "kind", "spaceship").unwrap();
    tx.put(automerge::ROOT, "id", DocId::new().as_str())
        .unwrap();
    tx.commit();
    assert!(matches!(
        Document::from_automerge(am),
        Err(DocumentError::Header(_))
    ));
    assert!(matches!(
        Document::load(b"garbage"),
        Err(DocumentError::Corrupt(_))
    ));
}

#[test]
fn the_conflict_report_of_a_case_lists_events_made_illegal_by_a_merge() {
    use sync_core::workflow::{append_event, new_event};
    let c = case();
    let worker = c.opened_by.clone();
    let supervisor = UserId::new();
    let mut base = Document::create(&c, &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    append_event(
        &mut base,
        &phone("2026-03-02T02:00:00Z"),
        &ctx(),
        new_event(
            supervisor.clone(),
            Role::CommunitySupervisor,
            CaseAction::Accept,
            at("2026-03-02T02:00:00Z"),
        ),
    )
    .unwrap();
    // Two devices of the supervisor act offline and both dispatch the case to the same worker.
    // After the merge, whichever dispatch comes second in the log names the current assignee
    // again and is illegal.
    let mut phone_copy = base.clone();
    let mut office_copy = base.clone();
    for (copy, minute) in [(&mut phone_copy, "03:00"), (&mut office_copy, "03:05")] {
        copy.set_actor(actor_for_device(&DeviceId::new()));
        let t = at(&format!("2026-03-02T{minute}:00Z"));
        append_event(
            copy,
            &phone(&t.to_string()),
            &ctx(),
            new_event(
                supervisor.clone(),
                Role::CommunitySupervisor,
                CaseAction::Dispatch,
                t,
            )
            .with_assignee(worker.clone()),
        )
        .unwrap();
    }
    phone_copy
        .automerge_mut()
        .merge(office_copy.automerge_mut())
        .unwrap();
    let report = conflicts::report(&phone_copy);
    assert!(report.fields.is_empty());
    assert_eq!(report.illegal_events.len(), 1, "{report:?}");
    assert!(!report.is_empty());
    // A household never has illegal events.
    let h = Document::create(&household(), &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    assert!(conflicts::report(&h).is_empty());
}

#[test]
fn an_edit_based_on_an_older_version_keeps_what_was_merged_in_since() {
    let mut doc = Document::create(&household(), &phone("2026-03-01T08:00:00Z"), &ctx()).unwrap();
    // A form opens at this version and the worker edits the notes and the first resident's name.
    let base = doc.heads();
    let mut edited: Household = doc.read().unwrap();
    edited.notes = "door code 1234".into();
    edited.residents[0].name = "王芳芳".into();

    // Meanwhile a sync merges another phone's edit of the tags and of the same name.
    let mut other = doc.clone();
    other
        .update(
            &phone("2026-03-01T09:00:00Z"),
            &ctx(),
            |h: &mut Household| {
                h.tags.push("rental".into());
                h.residents[0].name = "汪芳".into();
                Ok::<_, DocumentError>(())
            },
        )
        .unwrap();
    doc.automerge_mut().merge(other.automerge_mut()).unwrap();

    let hash = doc
        .replace_at(&phone("2026-03-01T10:00:00Z"), &ctx(), &base, &edited)
        .unwrap();
    assert!(hash.is_some());
    let merged: Household = doc.read().unwrap();
    assert_eq!(merged.notes, "door code 1234");
    assert_eq!(
        merged.tags,
        ["rental"],
        "the merged-in tag is kept, not reverted"
    );
    let conflicts = conflicts::conflicts(&doc);
    assert_eq!(conflicts.len(), 1, "both spellings are kept: {conflicts:?}");
    assert_eq!(conflicts[0].field, "residents[0].name");

    // Writing back an unchanged value is no change; an unknown version is refused.
    let mut fresh = Document::create(&household(), &phone("2026-03-01T08:00:00Z"), &ctx()).unwrap();
    let unchanged: Household = fresh.read().unwrap();
    let heads = fresh.heads();
    assert_eq!(
        fresh
            .replace_at(&phone("2026-03-01T11:00:00Z"), &ctx(), &heads, &unchanged)
            .unwrap(),
        None
    );
    let stranger = Document::create(&household(), &phone("2026-03-01T08:00:00Z"), &ctx()).unwrap();
    let mut removed: Household = doc.read().unwrap();
    let err = doc
        .replace_at(
            &phone("2026-03-01T11:00:00Z"),
            &ctx(),
            &stranger.heads(),
            &removed,
        )
        .unwrap_err();
    assert!(matches!(err, DocumentError::UnknownVersion(_)), "{err}");
    // The update rules apply against the version the edit was based on.
    removed.residents.clear();
    let err = doc
        .replace_at(&phone("2026-03-01T11:00:00Z"), &ctx(), &base, &removed)
        .unwrap_err();
    assert_eq!(first_error(err).0, "residents");
}

#[test]
fn each_case_event_is_traced_to_the_device_that_added_it_across_a_merge() {
    let (first, second) = (DeviceId::new(), DeviceId::new());
    let opener = Author::new(actor_for_device(&first), at("2026-03-02T01:00:00Z"));
    let c = case();
    let submit = c.events[0].id.to_string();
    let mut a = Document::create(&c, &opener, &ctx()).unwrap();
    let mut b = Document::load(&a.save()).unwrap();
    let note = |actor: &UserId, when: &str| CaseEvent {
        id: ItemId::new(),
        actor: actor.clone(),
        role: Role::GridWorker,
        action: CaseAction::Comment,
        note: Some("补充说明 more detail".into()),
        at: at(when),
        assignee: None,
        delay_days: None,
        level: None,
        target: None,
        device: Some(DeviceId::new()),
        department: None,
        co_departments: Vec::new(),
    };
    let (on_a, on_b) = (
        note(&c.opened_by, "2026-03-02T02:00:00Z"),
        note(&c.opened_by, "2026-03-02T02:05:00Z"),
    );
    let (id_a, id_b) = (on_a.id.to_string(), on_b.id.to_string());
    let edit_a = Author::new(actor_for_device(&first), at("2026-03-02T02:00:00Z"));
    a.update(&edit_a, &ctx(), |k: &mut Case| {
        k.events.push(on_a);
        Ok::<_, DocumentError>(())
    })
    .unwrap();
    let edit_b = Author::new(actor_for_device(&second), at("2026-03-02T02:05:00Z"));
    b.update(&edit_b, &ctx(), |k: &mut Case| {
        k.events.push(on_b);
        Ok::<_, DocumentError>(())
    })
    .unwrap();
    a.automerge_mut().merge(b.automerge_mut()).unwrap();

    let sources = history::item_sources(&a, "events");
    assert_eq!(sources.len(), 3);
    assert_eq!(sources[&submit].device, Some(first.clone()));
    assert_eq!(sources[&id_a].device, Some(first));
    assert_eq!(sources[&id_b].device, Some(second));
    assert!(history::item_sources(&a, "mediation").is_empty());
    assert!(history::item_sources(&a, "no_such_list").is_empty());
}

// ---------------------------------------------------------------------------------------------
// The household's private document
// ---------------------------------------------------------------------------------------------

/// Every change of `doc` after `base`, for applying elsewhere.
fn changes_after(doc: &Document, base: &[automerge::ChangeHash]) -> Vec<automerge::Change> {
    doc.automerge().get_changes(base)
}

#[test]
fn two_devices_creating_one_private_document_offline_converge_on_one_document() {
    let mut h = household();
    h.residents.push(resident("李强"));
    let (first, second) = (h.residents[0].id.clone(), h.residents[1].id.clone());
    let write_first = |p: &mut HouseholdPrivate| {
        p.resident_entry(&first).phone = Some("13911112222".into());
        Ok::<_, DocumentError>(())
    };
    let write_second = |p: &mut HouseholdPrivate| {
        *p.resident_entry(&second) = identity(&second, "19800101");
        Ok::<_, DocumentError>(())
    };

    // Two phones, both offline, each start the household's private document and record a
    // different resident.
    let mut a = HouseholdPrivate::genesis(&h.id, h.place.clone()).unwrap();
    let mut b = HouseholdPrivate::genesis(&h.id, h.place.clone()).unwrap();
    let genesis = a.heads();
    assert_eq!(
        b.heads(),
        genesis,
        "the same first change, whoever makes it"
    );
    assert_eq!(a.id(), &HouseholdPrivate::id_for(&h.id));
    a.update(&phone("2026-03-02T02:00:00Z"), &ctx(), write_first)
        .unwrap()
        .expect("a change was made");
    b.update(&phone("2026-03-02T02:05:00Z"), &ctx(), write_second)
        .unwrap()
        .expect("a change was made");

    // Each gets the other's changes.
    let (from_a, from_b) = (changes_after(&a, &genesis), changes_after(&b, &genesis));
    assert_eq!((from_a.len(), from_b.len()), (1, 1));
    a.automerge_mut().apply_changes(from_b).unwrap();
    b.automerge_mut().apply_changes(from_a).unwrap();
    assert_eq!(a.heads(), b.heads());
    assert_eq!(a.json(), b.json());
    assert_eq!(a.automerge().get_changes(&[]).len(), 3, "one first change");
    let merged: HouseholdPrivate = a.read().unwrap();
    assert_eq!(merged.residents.len(), 2);
    assert_eq!(
        merged.resident(&first).unwrap().phone.as_deref(),
        Some("13911112222")
    );
    assert_eq!(
        merged.resident(&second).unwrap(),
        &identity(&second, "19800101")
    );
    assert!(conflicts::conflicts(&a).is_empty());
    a.validate(&ctx()).unwrap();

    // Contrast: two documents of the same record created apart by ordinary `Document::create`
    // (each phone's own first change) each put their own `residents` list at the root. The
    // merge keeps one of the two lists: one phone's entry is hidden.
    let empty = HouseholdPrivate::empty(&h.id, h.place.clone());
    let mut c = Document::create(&empty, &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    let mut d = Document::create(&empty, &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    assert_ne!(c.heads(), d.heads());
    c.update(&phone("2026-03-02T02:00:00Z"), &ctx(), write_first)
        .unwrap();
    d.update(&phone("2026-03-02T02:05:00Z"), &ctx(), write_second)
        .unwrap();
    c.automerge_mut().merge(d.automerge_mut()).unwrap();
    let merged: HouseholdPrivate = c.read().unwrap();
    assert_eq!(merged.residents.len(), 1, "one list hides the other");
    assert!(
        conflicts::conflicts(&c)
            .iter()
            .any(|conflict| conflict.field == "residents"),
        "{:?}",
        conflicts::conflicts(&c)
    );
}

#[test]
fn concurrent_phones_of_one_resident_in_the_private_document_are_a_conflict_to_resolve() {
    let h = household();
    let base = private_doc(&h, &phone("2026-03-02T01:00:00Z"));
    let (mut a, mut b) = (base.clone(), base.clone());
    for (doc, number, time) in [
        (&mut a, "13911112222", "2026-03-03T02:00:00Z"),
        (&mut b, "13733334444", "2026-03-03T03:00:00Z"),
    ] {
        doc.update(&phone(time), &ctx(), |p: &mut HouseholdPrivate| {
            p.residents[0].phone = Some(number.into());
            Ok::<_, DocumentError>(())
        })
        .unwrap();
    }
    a.automerge_mut().merge(b.automerge_mut()).unwrap();
    let found = conflicts::conflicts(&a);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].field, "residents[0].phone");
    let heads = a.heads();
    let supervisor = phone("2026-03-04T01:00:00Z");
    assert!(matches!(
        conflicts::resolve(
            &mut a,
            &supervisor,
            &ctx(),
            &found[0].path,
            &json!("not a phone")
        ),
        Err(ResolveError::Invalid(_))
    ));
    assert_eq!(a.heads(), heads);
    conflicts::resolve(
        &mut a,
        &supervisor,
        &ctx(),
        &found[0].path,
        &json!("13911112222"),
    )
    .unwrap();
    assert!(conflicts::conflicts(&a).is_empty());
    let resolved: HouseholdPrivate = a.read().unwrap();
    assert_eq!(resolved.residents[0].phone.as_deref(), Some("13911112222"));
}

/// A grid worker's device in `place()`'s grid, as the server sees it.
fn worker_device() -> (Caller, Author, GridScope) {
    let device = DeviceId::new();
    let author = Author::new(actor_for_device(&device), at("2026-03-02T02:00:00Z"));
    let caller = Caller {
        user: UserId::new(),
        device,
        role: Role::GridWorker,
    };
    let scope = GridScope {
        role: Role::GridWorker,
        grids: [place().grid].into(),
    };
    (caller, author, scope)
}

/// A push of `doc`'s changes after `base` under the id `id`.
fn private_push(id: &DocId, doc: &Document, base: &[automerge::ChangeHash]) -> DocPush {
    DocPush {
        id: id.clone(),
        kind: RecordKind::HouseholdPrivate,
        base_heads: base.to_vec(),
        changes: Bytes(doc.automerge().save_after(base)),
    }
}

fn refusal_code(outcome: &PushOutcome) -> &str {
    assert!(!outcome.is_accepted(), "accepted");
    &outcome.result().error.as_ref().unwrap().code
}

#[test]
fn the_server_takes_the_canonical_first_change_from_any_device_and_refuses_a_forged_one() {
    let h = household();
    let id = HouseholdPrivate::id_for(&h.id);
    let genesis_actor = HouseholdPrivate::genesis_actor(&id);

    // A worker's phone pushes the private document it started: the first change is not the
    // device's, but it is the canonical one.
    let (caller, author, scope) = worker_device();
    let doc = private_doc(&h, &author);
    let outcome = apply_push(None, &private_push(&id, &doc, &[]), &caller, &scope, &ctx());
    let PushOutcome::Accepted(accepted) = outcome else {
        panic!("refused: {:?}", outcome.result());
    };
    assert_eq!(accepted.new_changes.len(), 2);
    assert_eq!(accepted.new_changes[0].actor_id(), &genesis_actor);
    assert_eq!(accepted.stored.doc.heads(), doc.heads());
    let stored = accepted.stored;

    // Another worker's phone started it offline too: its first change is already stored, and
    // its edit merges into the same document.
    let (other, other_author, _) = worker_device();
    let mut theirs = HouseholdPrivate::genesis(&h.id, h.place.clone()).unwrap();
    theirs
        .update(&other_author, &ctx(), |p: &mut HouseholdPrivate| {
            p.notes = "独居，子女在外地".into();
            Ok::<_, DocumentError>(())
        })
        .unwrap();
    let outcome = apply_push(
        Some(&stored),
        &private_push(&id, &theirs, &[]),
        &other,
        &scope,
        &ctx(),
    );
    let PushOutcome::Accepted(merged) = outcome else {
        panic!("refused: {:?}", outcome.result());
    };
    assert_eq!(merged.new_changes.len(), 1);
    let record: HouseholdPrivate = merged.stored.doc.read().unwrap();
    assert_eq!(record.notes, "独居，子女在外地");
    assert_eq!(
        record.resident(&h.residents[0].id),
        Some(&identity(&h.residents[0].id, "19560312"))
    );

    // A forged "genesis": the genesis actor's first change, with a resident's entry in it.
    let mut forged_record = HouseholdPrivate::empty(&h.id, h.place.clone());
    forged_record
        .residents
        .push(identity(&h.residents[0].id, "19560312"));
    let forged = Document::create(
        &forged_record,
        &Author::new(genesis_actor.clone(), Timestamp::from_millis(0)),
        &ctx(),
    )
    .unwrap();
    let first = &forged.automerge().get_changes(&[])[0];
    assert_eq!((first.actor_id(), first.seq()), (&genesis_actor, 1));
    for stored in [None, Some(&stored)] {
        let outcome = apply_push(
            stored,
            &private_push(&id, &forged, &[]),
            &caller,
            &scope,
            &ctx(),
        );
        assert_eq!(refusal_code(&outcome), codes::FOREIGN_CHANGE);
    }

    // The genesis actor writes nothing after its first change.
    let mut later = HouseholdPrivate::genesis(&h.id, h.place.clone()).unwrap();
    let genesis = later.heads();
    later
        .update(
            &Author::new(genesis_actor.clone(), Timestamp::from_millis(0)),
            &ctx(),
            |p: &mut HouseholdPrivate| {
                p.notes = "forged".into();
                Ok::<_, DocumentError>(())
            },
        )
        .unwrap();
    let outcome = apply_push(
        Some(&stored),
        &private_push(&id, &later, &genesis),
        &caller,
        &scope,
        &ctx(),
    );
    assert_eq!(refusal_code(&outcome), codes::FOREIGN_CHANGE);

    // Another household's canonical first change is not this document's.
    let elsewhere = HouseholdPrivate::genesis(&DocId::new(), h.place.clone()).unwrap();
    let outcome = apply_push(
        None,
        &private_push(&id, &elsewhere, &[]),
        &caller,
        &scope,
        &ctx(),
    );
    assert_eq!(refusal_code(&outcome), codes::FOREIGN_CHANGE);

    // Nor is it exempt in a push that names another kind of record.
    let mut as_household = private_push(&id, &doc, &[]);
    as_household.kind = RecordKind::Household;
    let outcome = apply_push(None, &as_household, &caller, &scope, &ctx());
    assert_eq!(refusal_code(&outcome), codes::FOREIGN_CHANGE);
    // Once stored, the document is fetched and retried like any other.
    let outcome = apply_push(
        Some(&StoredRecord::new(stored.doc.clone())),
        &private_push(&id, &doc, &[]),
        &caller,
        &scope,
        &ctx(),
    );
    let PushOutcome::Accepted(retry) = outcome else {
        panic!("refused: {:?}", outcome.result());
    };
    assert!(retry.new_changes.is_empty());
}

#[test]
fn a_household_in_the_old_layout_still_reads_and_its_values_move_to_the_private_document() {
    let h = household();
    let rid = h.residents[0].id.clone();
    let mut doc = Document::create(&h, &phone("2026-03-02T01:00:00Z"), &ctx()).unwrap();
    // An old phone writes the resident's ID number and phone where they used to be, and a
    // birth date in a form that never parsed.
    let am = doc.automerge_mut();
    let (_, residents) = am.get(automerge::ROOT, "residents").unwrap().unwrap();
    let (_, first) = am.get(&residents, 0).unwrap().unwrap();
    let mut tx = am.transaction();
    tx.put(&first, "id_number", id_number("19560312")).unwrap();
    tx.put(&first, "phone", "13800001234").unwrap();
    tx.put(&first, "birth_date", "1956/03/12").unwrap();
    tx.commit();

    // It reads, without the old keys, and validates.
    let json = doc.record_json();
    assert_eq!(json["residents"][0]["phone"], "13800001234");
    assert!(household_private::has_legacy_fields(&json));
    assert_eq!(doc.read::<Household>().unwrap(), h);
    doc.validate(&ctx()).unwrap();
    assert!(matches!(
        AnyRecord::read(&doc).unwrap(),
        AnyRecord::Household(read) if read == h
    ));
    // A typed edit of the household leaves the old keys where they are.
    let mut h = h;
    h.notes = "走访".into();
    doc.update(
        &phone("2026-03-02T01:30:00Z"),
        &ctx(),
        |edited: &mut Household| {
            edited.notes = "走访".into();
            Ok::<_, DocumentError>(())
        },
    )
    .unwrap();
    let json = doc.record_json();
    assert_eq!(json["residents"][0]["phone"], "13800001234");
    assert_eq!(doc.read::<Household>().unwrap(), h);

    // The values move to the private document; the one that does not parse is skipped.
    let lifted = household_private::lifted_legacy(None, &json);
    assert_eq!(lifted.len(), 1);
    // (Key order depends on serde_json's features in the build: compare as a set.)
    assert_eq!(
        lifted[&rid]
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        ["birth_date", "id_number", "phone"].into()
    );
    let worker = phone("2026-03-02T02:00:00Z");
    let mut private = HouseholdPrivate::genesis(&h.id, h.place.clone()).unwrap();
    let mut written = 0;
    private
        .update(&worker, &ctx(), |p: &mut HouseholdPrivate| {
            written = p.apply_legacy(&lifted);
            Ok::<_, DocumentError>(())
        })
        .unwrap()
        .expect("a change was made");
    assert_eq!(written, 2);
    let moved: HouseholdPrivate = private.read().unwrap();
    let entry = moved.resident(&rid).unwrap();
    assert_eq!(entry.id_number, Some(id_number("19560312")));
    assert_eq!(entry.phone.as_deref(), Some("13800001234"));
    assert_eq!(entry.birth_date, None);

    // Then they are deleted from the household, as one change.
    let before = doc.heads();
    let hash = household_private::delete_legacy_keys(&mut doc, &worker)
        .unwrap()
        .expect("keys were deleted");
    let changes = doc.automerge().get_changes(&before);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].hash(), hash);
    assert_eq!(changes[0].actor_id(), &worker.actor);
    let json = doc.record_json();
    assert!(!household_private::has_legacy_fields(&json));
    for key in household_private::LEGACY_RESIDENT_KEYS {
        assert!(json["residents"][0].get(key).is_none(), "{key}");
    }
    assert_eq!(doc.read::<Household>().unwrap(), h);
    assert_eq!(
        household_private::delete_legacy_keys(&mut doc, &worker).unwrap(),
        None,
        "nothing is left to delete"
    );

    // The grid worker's view joins the two documents again.
    let mut joined = doc.record_json();
    household_private::join_json(&mut joined, Some(&private.record_json()));
    assert_eq!(joined["residents"][0]["phone"], "13800001234");
    assert_eq!(joined["residents"][0]["id_number"], id_number("19560312"));
    assert_eq!(joined["residents"][0]["special_groups"], json!([]));
}

mod reports {
    use super::*;
    use sync_core::ids::LiaisonGroupId;
    use sync_core::models::Report;
    use sync_core::models::report::{Triage, TriageDecision};

    fn report(liaison: &UserId) -> Report {
        Report {
            id: DocId::new(),
            place: place(),
            liaison_group: "dzk-01-g1".parse::<LiaisonGroupId>().unwrap(),
            reporter: liaison.clone(),
            what: "楼道堆放杂物".into(),
            location: None,
            households: vec![DocId::new()],
            noticed_at: at("2026-03-02T01:00:00Z"),
            triage: None,
        }
    }

    fn triage(worker: &UserId, decision: TriageDecision) -> Triage {
        Triage {
            decision,
            case: (decision == TriageDecision::Accepted).then(DocId::new),
            reason: (decision == TriageDecision::Closed).then(|| "已现场清理".to_owned()),
            by: worker.clone(),
            at: at("2026-03-02T02:00:00Z"),
        }
    }

    #[test]
    fn the_liaison_writes_the_report_and_the_worker_only_its_triage() {
        let (liaison, worker) = (UserId::new(), UserId::new());
        let new = report(&liaison);
        Report::check_author(None, &new, &liaison, Role::Liaison).unwrap();
        // Nobody reports in a liaison's name, nor triages their own report.
        assert!(Report::check_author(None, &new, &UserId::new(), Role::Liaison).is_err());
        assert!(Report::check_author(None, &new, &worker, Role::GridWorker).is_err());
        let mut triaged = new.clone();
        triaged.triage = Some(triage(&worker, TriageDecision::Closed));
        assert!(Report::check_author(Some(&new), &triaged, &liaison, Role::Liaison).is_err());
        Report::check_author(Some(&new), &triaged, &worker, Role::GridWorker).unwrap();
        // The worker's triage names them and changes nothing else.
        let mut edited = triaged.clone();
        edited.what = "改写".into();
        assert!(Report::check_author(Some(&new), &edited, &worker, Role::GridWorker).is_err());
        let mut in_another_name = new.clone();
        in_another_name.triage = Some(triage(&UserId::new(), TriageDecision::Closed));
        assert!(
            Report::check_author(Some(&new), &in_another_name, &worker, Role::GridWorker).is_err()
        );
        // Supervisors do not write reports.
        assert!(
            Report::check_author(Some(&new), &triaged, &worker, Role::CommunitySupervisor).is_err()
        );
    }

    #[test]
    fn a_triage_is_complete_and_final() {
        let (liaison, worker) = (UserId::new(), UserId::new());
        let new = report(&liaison);
        let phone = phone("2026-03-02T01:00:00Z");
        let mut doc = Document::create(&new, &phone, &ctx()).unwrap();
        // Closing needs a reason; accepting names the case.
        let mut bare = triage(&worker, TriageDecision::Closed);
        bare.reason = None;
        let err = doc
            .update(&phone, &ctx(), |r: &mut Report| {
                r.triage = Some(bare.clone());
                Ok::<_, DocumentError>(())
            })
            .unwrap_err();
        assert!(err.to_string().contains("triage.reason"), "{err}");
        let mut accepted = triage(&worker, TriageDecision::Accepted);
        accepted.case = None;
        assert!(
            doc.update(&phone, &ctx(), |r: &mut Report| {
                r.triage = Some(accepted.clone());
                Ok::<_, DocumentError>(())
            })
            .is_err()
        );
        doc.update(&phone, &ctx(), |r: &mut Report| {
            r.triage = Some(triage(&worker, TriageDecision::Accepted));
            Ok::<_, DocumentError>(())
        })
        .unwrap();
        // Once triaged, nothing changes: not the text, not the decision.
        let err = doc
            .update(&phone, &ctx(), |r: &mut Report| {
                r.what = "改写".into();
                Ok::<_, DocumentError>(())
            })
            .unwrap_err();
        assert!(err.to_string().contains("never changes"), "{err}");
    }
}
