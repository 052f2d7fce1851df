//! The figures of the street office's monthly report (工作月报), as a closed set with their
//! labels, so that the console, the workbook and the PDF name each figure alike. Which
//! figures a report holds and how they are counted is the server's business
//! (`server/src/reports/`); this is only their names and which of them are snapshots.

use crate::string_enum;

string_enum! {
    /// A figure of the monthly report.
    pub enum ReportFigure {
        /// Active households on record.
        Households = "households_on_record" ["在册户数", "households on record"],
        /// Household liaisons (联户长) of the place.
        Liaisons = "liaisons" ["联户长", "household liaisons"],
        /// Active households that belong to a liaison group.
        LiaisonHouseholds = "liaison_households" ["联户覆盖户数", "households with a liaison"],
        /// Party members registered (双报到) up to the end of the period.
        PartyMembersTotal = "party_members_total" ["双报到党员（累计）", "party members registered (to date)"],
        /// Cases overdue (red) at the time of the report, whenever opened.
        OverdueCases = "overdue_cases" ["超期案件（件）", "overdue cases"],
        /// Party members registered in the period.
        PartyMembersRegistered = "party_members_registered" ["双报到党员（本期新增）", "party members registered (this period)"],
        /// Party organisations registered in the period.
        PartyOrganizationsRegistered = "party_organizations_registered" ["双报到党组织（本期新增）", "party organisations registered (this period)"],
        /// Hours of service party members logged in the period.
        ServiceHours = "service_hours" ["党员志愿服务时长（小时）", "party members' service hours"],
        /// Service activities held in the period.
        ServiceActivities = "service_activities" ["服务活动（场次）", "service activities"],
        /// Cultural activities held in the period.
        CulturalActivities = "cultural_activities" ["文娱活动（场次）", "cultural activities"],
        /// Policy outreach held in the period.
        OutreachActivities = "outreach_activities" ["政策宣传（场次）", "policy outreach"],
        /// Disputes mediated (resolved) in the period.
        DisputesMediated = "disputes_mediated" ["调处矛盾纠纷（起）", "disputes mediated"],
        /// Of those, the share whose last mediation session reached an agreement.
        MediationSuccessRate = "mediation_success_rate" ["调解成功率", "mediation success rate"],
        /// Hazards found (cases opened) in the period.
        HazardsFound = "hazards_found" ["排查安全隐患（处）", "hazards found"],
        /// Hazards rectified (cases closed) in the period.
        HazardsRectified = "hazards_rectified" ["整改安全隐患（处）", "hazards rectified"],
        /// Of those, hazards with a photo after rectification.
        HazardsRectifiedWithPhoto = "hazards_rectified_with_photo" ["整改有照片隐患（处）", "hazards rectified, with an after photo"],
        /// Appeals resolved in the period.
        AppealsResolved = "appeals_resolved" ["办结群众诉求（件）", "appeals resolved"],
        /// Of those, resolved within their step's time limit.
        AppealsResolvedOnTime = "appeals_resolved_on_time" ["按时办结诉求（件）", "appeals resolved on time"],
        /// Of those, the share resolved within their step's time limit.
        AppealsOnTimeRate = "appeals_on_time_rate" ["诉求按时办结率", "on-time rate of appeals"],
        /// Visits in the period.
        Visits = "home_visits" ["走访入户（次）", "home visits"],
        /// Active households visited at least once in the period.
        HouseholdsVisited = "households_visited" ["走访覆盖户数", "households visited"],
        /// `households_visited / households`.
        VisitCoverage = "visit_coverage" ["走访覆盖率", "visit coverage"],
        /// Patrols in the period.
        Patrols = "patrols_run" ["巡逻（次）", "patrols"],
        /// 三资 income booked in the period, in yuan.
        AssetIncome = "asset_income" ["三资收入（元）", "collective assets income (yuan)"],
        /// 三资 expenses booked in the period, in yuan.
        AssetExpense = "asset_expense" ["三资支出（元）", "collective assets expenses (yuan)"],
    }
}

impl ReportFigure {
    /// Is this a figure of the state at the end of the period (as opposed to a count of what
    /// happened during it)?
    pub fn is_snapshot(self) -> bool {
        matches!(
            self,
            Self::Households
                | Self::Liaisons
                | Self::LiaisonHouseholds
                | Self::PartyMembersTotal
                | Self::OverdueCases
        )
    }

    /// Is this a share (0 to 1) rather than a count or an amount?
    pub fn is_rate(self) -> bool {
        matches!(
            self,
            Self::MediationSuccessRate | Self::AppealsOnTimeRate | Self::VisitCoverage
        )
    }
}
