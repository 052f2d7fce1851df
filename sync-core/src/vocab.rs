//! The one vocabulary: every code people may see (a state, a kind, an action, a role, a special
//! group, a case category...) with its label in Chinese, as a street office writes it, and in
//! English. The console, the exports, the phone library and the API's label fields all read
//! labels from here (the server serves it as `GET /v1/vocabulary`), so one code is never
//! named two ways.
//!
//! Closed value sets are [`string_enum!`](crate::string_enum)s, whose syntax requires each
//! value's labels; this module lists every one of them as a [`Group`]. Open lists (codes from a
//! catalogue a deployment may extend, such as special groups and case categories) have their
//! known codes here; a code outside them is shown as it is. Groups are looked up by name
//! because one code may mean different things in two groups (`red`: a red deadline alert, or
//! red-card supervision).

use serde::Serialize;

use crate::deadline::DeadlineLevel;
use crate::figures::ReportFigure;
use crate::models::activity::{ActivityKind, OutreachForm};
use crate::models::asset::{AssetKind, LeaseState, LedgerDirection};
use crate::models::attachment::{AttachmentStage, MediaType};
use crate::models::case::{
    CaseAction, CaseKind, MediationOutcome, PartyRole, RecheckResult, SupervisionLevel, Urgency,
};
use crate::models::household::{Gender, HouseholdStatus, Relation, ResidentStatus};
use crate::models::party::RegistrantKind;
use crate::models::patrol::PatrolRole;
use crate::models::report::TriageDecision;
use crate::models::visit::VisitMethod;
use crate::record::{RecordKind, Role};
use crate::workflow::{CaseState, Step};

/// One code and its labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The code as stored and sent (`closed`).
    pub code: &'static str,
    /// Its label in Chinese (`已结案`).
    pub zh: &'static str,
    /// Its label in English (`closed`).
    pub en: &'static str,
}

/// A named set of codes: the values of one enum, or one open list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The group's name (`case_state`).
    pub name: &'static str,
    /// Its codes, in order.
    pub entries: &'static [Entry],
}

impl Group {
    /// The entry of `code`, if the group has it.
    pub fn get(&self, code: &str) -> Option<&'static Entry> {
        self.entries.iter().find(|e| e.code == code)
    }
}

macro_rules! entries {
    ($($code:literal => $zh:literal, $en:literal;)+) => {
        &[$(Entry { code: $code, zh: $zh, en: $en }),+]
    };
}

/// Special groups of residents (特殊人群): the built-in catalogue
/// ([`crate::validate::DEFAULT_SPECIAL_GROUPS`]).
pub static SPECIAL_GROUPS: &[Entry] = entries! {
    "elderly_alone" => "独居老人", "elderly living alone";
    "empty_nest" => "空巢老人", "empty-nest elderly";
    "disabled" => "残疾人", "disabled person";
    "dibao" => "低保", "minimum living allowance (dibao)";
    "tekun" => "特困", "extreme poverty support (tekun)";
    "left_behind_child" => "留守儿童", "left-behind child";
    "veteran" => "退役军人", "veteran";
    "serious_illness" => "大病", "serious illness";
    "community_correction" => "社区矫正", "community correction";
    "drug_rehab" => "社区戒毒康复", "community drug rehabilitation";
    "mental_illness" => "严重精神障碍", "severe mental disorder";
};

/// Household tags in use.
pub static HOUSEHOLD_TAGS: &[Entry] = entries! {
    "key_care" => "重点关照", "key care";
    "party_member_home" => "党员户", "party member's home";
    "rental" => "出租户", "rented home";
    "shop_front" => "临街门面", "shop front";
};

/// Case categories (事项类别) of appeals, disputes and hazards.
pub static CASE_CATEGORIES: &[Entry] = entries! {
    "water_supply" => "供水", "water supply";
    "street_light" => "路灯", "street light";
    "elevator" => "电梯", "lift";
    "dibao_inquiry" => "低保咨询", "dibao inquiry";
    "medical_insurance" => "医保", "medical insurance";
    "property_service" => "物业服务", "property management";
    "road_repair" => "道路维修", "road repair";
    "employment" => "就业", "employment";
    "elderly_meal" => "老年助餐", "meals for the elderly";
    "elderly_care" => "养老服务", "elderly care";
    "residence_certificate" => "居住证明", "residence certificate";
    "sewer_blocked" => "下水道堵塞", "blocked sewer";
    "stray_dogs" => "流浪犬", "stray dogs";
    "neighbour_noise" => "邻里噪音", "neighbours' noise";
    "water_leak" => "漏水", "water leak";
    "family_support" => "家庭赡养", "family support";
    "property_fee" => "物业费", "property fee";
    "parking_space" => "车位", "parking space";
    "wage_arrears" => "欠薪", "unpaid wages";
    "yard_boundary" => "院落边界", "yard boundary";
    "marriage" => "婚姻家庭", "marriage and family";
    "rent_deposit" => "租房押金", "rent deposit";
    "fire_exit_blocked" => "消防通道堵塞", "blocked fire exit";
    "ebike_charging" => "电动车违规充电", "e-bike charging";
    "gas_pipe" => "燃气管道", "gas pipe";
    "wiring" => "线路老化", "old wiring";
    "falling_tiles" => "外墙脱落", "falling facade tiles";
    "retaining_wall" => "挡土墙", "retaining wall";
    "dilapidated_house" => "危房", "dilapidated house";
    "river_railing" => "河道护栏", "river railing";
    "fire_extinguisher" => "灭火器", "fire extinguisher";
};

/// What a change did to a field, as history lists it.
pub static HISTORY_EDITS: &[Entry] = entries! {
    "set" => "修改", "set";
    "insert" => "新增", "insert";
    "delete" => "删除", "delete";
    "increment" => "增加", "increment";
    "edit_text" => "编辑", "edit text";
};

/// Every group of sync-core, by name. The server adds its own enums (the audit log's actions)
/// when it serves the vocabulary.
pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "record_kind",
            entries: RecordKind::LABELS,
        },
        Group {
            name: "role",
            entries: Role::LABELS,
        },
        Group {
            name: "case_kind",
            entries: CaseKind::LABELS,
        },
        Group {
            name: "case_state",
            entries: CaseState::LABELS,
        },
        Group {
            name: "case_action",
            entries: CaseAction::LABELS,
        },
        Group {
            name: "step",
            entries: Step::LABELS,
        },
        Group {
            name: "deadline_level",
            entries: DeadlineLevel::LABELS,
        },
        Group {
            name: "supervision_level",
            entries: SupervisionLevel::LABELS,
        },
        Group {
            name: "urgency",
            entries: Urgency::LABELS,
        },
        Group {
            name: "party_role",
            entries: PartyRole::LABELS,
        },
        Group {
            name: "mediation_outcome",
            entries: MediationOutcome::LABELS,
        },
        Group {
            name: "recheck_result",
            entries: RecheckResult::LABELS,
        },
        Group {
            name: "media_type",
            entries: MediaType::LABELS,
        },
        Group {
            name: "attachment_stage",
            entries: AttachmentStage::LABELS,
        },
        Group {
            name: "household_status",
            entries: HouseholdStatus::LABELS,
        },
        Group {
            name: "gender",
            entries: Gender::LABELS,
        },
        Group {
            name: "relation",
            entries: Relation::LABELS,
        },
        Group {
            name: "resident_status",
            entries: ResidentStatus::LABELS,
        },
        Group {
            name: "triage_decision",
            entries: TriageDecision::LABELS,
        },
        Group {
            name: "visit_method",
            entries: VisitMethod::LABELS,
        },
        Group {
            name: "patrol_role",
            entries: PatrolRole::LABELS,
        },
        Group {
            name: "activity_kind",
            entries: ActivityKind::LABELS,
        },
        Group {
            name: "outreach_form",
            entries: OutreachForm::LABELS,
        },
        Group {
            name: "registrant_kind",
            entries: RegistrantKind::LABELS,
        },
        Group {
            name: "asset_kind",
            entries: AssetKind::LABELS,
        },
        Group {
            name: "ledger_direction",
            entries: LedgerDirection::LABELS,
        },
        Group {
            name: "lease_state",
            entries: LeaseState::LABELS,
        },
        Group {
            name: "report_figure",
            entries: ReportFigure::LABELS,
        },
        Group {
            name: "special_group",
            entries: SPECIAL_GROUPS,
        },
        Group {
            name: "household_tag",
            entries: HOUSEHOLD_TAGS,
        },
        Group {
            name: "case_category",
            entries: CASE_CATEGORIES,
        },
        Group {
            name: "history_edit",
            entries: HISTORY_EDITS,
        },
    ]
}

/// The entry of `code` in the group named `group` among `groups` (a code a deployment added
/// to an open list has none: show it as it is).
pub fn lookup(groups: &[Group], group: &str, code: &str) -> Option<&'static Entry> {
    groups
        .iter()
        .find(|g| g.name == group)
        .and_then(|g| g.get(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_enum_of_sync_core_is_a_group_with_every_value_labelled() {
        // The enums, read from the source: a new enum not listed in `groups()` fails here.
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut defined = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(root)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("enums.rs")
                    && !path.ends_with("vocab.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    for part in text.split("string_enum! {").skip(1) {
                        if let Some(name) = part
                            .split("pub enum ")
                            .nth(1)
                            .and_then(|rest| rest.split_whitespace().next())
                        {
                            defined.push(name.to_owned());
                        }
                    }
                }
            }
        }
        let groups = groups();
        let listed: Vec<&Group> = groups.iter().collect();
        // Every group but the open lists is an enum's LABELS.
        let open_lists = [
            SPECIAL_GROUPS,
            HOUSEHOLD_TAGS,
            CASE_CATEGORIES,
            HISTORY_EDITS,
        ];
        let enum_groups = listed
            .iter()
            .filter(|g| !open_lists.iter().any(|l| std::ptr::eq(*l, g.entries)))
            .count();
        assert_eq!(defined.len(), enum_groups, "enums {defined:?}");
        for group in &listed {
            assert!(!group.entries.is_empty(), "{}", group.name);
            for e in group.entries {
                assert!(
                    !e.zh.trim().is_empty() && !e.en.trim().is_empty(),
                    "{}.{}",
                    group.name,
                    e.code
                );
                assert!(
                    e.zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                    "{}.{} has no Chinese label",
                    group.name,
                    e.code
                );
            }
            let mut codes: Vec<&str> = group.entries.iter().map(|e| e.code).collect();
            codes.sort_unstable();
            codes.dedup();
            assert_eq!(
                codes.len(),
                group.entries.len(),
                "{} repeats a code",
                group.name
            );
        }
        let mut names: Vec<&str> = listed.iter().map(|g| g.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), listed.len(), "two groups share a name");
    }

    #[test]
    fn the_special_group_catalogue_is_labelled() {
        for code in crate::validate::DEFAULT_SPECIAL_GROUPS {
            assert!(
                SPECIAL_GROUPS.iter().any(|e| e.code == *code),
                "{code} has no label"
            );
        }
    }

    #[test]
    fn labels_are_looked_up_by_group_and_unknown_codes_show_as_they_are() {
        let all = groups();
        let zh = |group: &str, code: &str| lookup(&all, group, code).map(|e| e.zh);
        assert_eq!(zh("case_state", "closed"), Some("已结案"));
        assert_eq!(zh("deadline_level", "red"), Some("红色预警"));
        assert_eq!(zh("supervision_level", "red"), Some("红牌督办"));
        assert_eq!(zh("case_category", "tp-03"), None);
        assert_eq!(CaseState::Closed.label_zh(), "已结案");
    }
}
