//! Collective assets (三资) of 丁字口 and 联桥: car park, shop fronts, a pig farm and a
//! supermarket, with their leases and a year of monthly ledger entries.

use sync_core::deadline::DAY_MS;
use sync_core::models::asset::{AssetKind, Lease, LedgerDirection, LedgerEntry};
use sync_core::models::{AnyRecord, Asset};
use sync_core::time::Date;

use super::edit::{Key, append, commit};
use super::grid::GridGen;
use super::rng::Rng;

impl GridGen<'_> {
    /// Writes the community's collective assets (in the first grid of 丁字口 and 联桥), then
    /// one ledger change per month.
    pub(super) fn write_assets(&mut self) -> anyhow::Result<()> {
        let worker = self.worker();
        struct Spec {
            kind: AssetKind,
            name: &'static str,
            description: &'static str,
            value_yuan: i64,
            leases: &'static [(&'static str, i64)],
            /// Monthly (income, expense) in yuan, with the notes.
            monthly: (i64, &'static str, i64, &'static str),
        }
        let specs: &[Spec] = match self.community.spec.code {
            "dzk" => &[
                Spec {
                    kind: AssetKind::FixedAsset,
                    name: "丁字口社区停车场",
                    description: "社区集体停车场，62个车位，盘活后委托停车管理公司经营",
                    value_yuan: 1_200_000,
                    leases: &[("沿河县顺达停车管理有限公司", 180_000)],
                    monthly: (15_000, "停车场承包费", 800, "停车场照明电费"),
                },
                Spec {
                    kind: AssetKind::FixedAsset,
                    name: "丁字口社区临街门面",
                    description: "人民路临街门面6间，对外公开出租",
                    value_yuan: 2_400_000,
                    leases: &[
                        ("沿河县和顺百货店", 36_000),
                        ("冉记粉馆", 30_000),
                        ("田氏药房", 42_000),
                        ("沿河县家家乐便利店", 33_000),
                    ],
                    monthly: (11_750, "门面租金", 600, "门面公共区域维修"),
                },
            ],
            _ => &[
                Spec {
                    kind: AssetKind::FixedAsset,
                    name: "联桥社区临街门面",
                    description: "联桥安置小区一楼门面8间",
                    value_yuan: 1_800_000,
                    leases: &[
                        ("沿河县联桥五金店", 28_000),
                        ("崔记副食店", 26_000),
                        ("杨氏理发店", 18_000),
                    ],
                    monthly: (6_000, "门面租金", 300, "门面消防器材更换"),
                },
                Spec {
                    kind: AssetKind::Resource,
                    name: "联桥社区闲置养猪场",
                    description: "原村集体养猪场，闲置多年，经摸底后整体出租给养殖合作社盘活",
                    value_yuan: 450_000,
                    leases: &[("沿河县联桥生态养殖专业合作社", 60_000)],
                    monthly: (5_000, "养猪场租金", 400, "养殖场道路维护"),
                },
                Spec {
                    kind: AssetKind::Fund,
                    name: "联桥社区集体经济超市",
                    description: "“党支部+集体经济公司”模式，集体经济发展资金投入经营实体超市，年增收32万余元",
                    value_yuan: 800_000,
                    leases: &[],
                    monthly: (58_000, "超市营业收入", 31_300, "进货及人员工资"),
                },
            ],
        };
        for spec in specs {
            let at = self.daytime(self.start.plus_millis(2 * DAY_MS));
            let start = self.days_before_start(30, 400);
            // Three-year leases, except each asset's second one, which runs out 45 days from
            // now: the 三资 page and the dashboard have a lease to renew.
            let today = self.date(self.now);
            let leases = spec
                .leases
                .iter()
                .enumerate()
                .map(|(i, (tenant, rent))| Lease {
                    id: self.rng.item_id(at),
                    tenant: (*tenant).to_owned(),
                    start,
                    end: if i == 1 {
                        Date(today.0 + chrono::Days::new(45))
                    } else {
                        Date(start.0 + chrono::Months::new(36))
                    },
                    rent_fen_per_year: rent * 100,
                })
                .collect();
            let asset = Asset {
                id: self.rng.doc_id(at),
                place: self.place.clone(),
                asset_kind: spec.kind,
                name: spec.name.to_owned(),
                description: spec.description.to_owned(),
                value_fen: spec.value_yuan * 100,
                leases,
                ledger: Vec::new(),
            };
            let mut doc = self.create(&asset, worker, at, "register asset")?;
            let mut current = asset;
            // Monthly bookkeeping: income and expense entries, one change per month.
            for month in 1..=11 {
                let t = self.daytime(self.start.plus_millis(month * 30 * DAY_MS + 3 * DAY_MS));
                if t >= self.now {
                    break;
                }
                let on = self.date(t);
                let wobble = |rng: &mut Rng, v: i64| v * 100 + rng.range(-(v * 5), v * 5);
                let (income, income_note, expense, expense_note) = spec.monthly;
                let income_fen = wobble(&mut self.rng, income);
                let expense_fen = wobble(&mut self.rng, expense);
                for (direction, amount_fen, note) in [
                    (LedgerDirection::Income, income_fen, income_note),
                    (LedgerDirection::Expense, expense_fen, expense_note),
                ] {
                    current.ledger.push(LedgerEntry {
                        id: self.rng.item_id(t),
                        on,
                        direction,
                        amount_fen: amount_fen.max(1),
                        note: note.to_owned(),
                        recorded_by: worker.id.clone(),
                    });
                }
                let entries = &current.ledger[current.ledger.len() - 2..];
                commit(&mut doc, worker, t, "monthly ledger", |tx| {
                    for entry in entries {
                        append(tx, &[Key::Field("ledger")], entry)?;
                    }
                    Ok(())
                })?;
            }
            self.finish(doc, AnyRecord::Asset(current))?;
        }
        Ok(())
    }
}
