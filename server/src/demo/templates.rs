//! Case templates: what residents appeal about, quarrel over, and which hazards workers find.

use sync_core::models::case::CaseKind;

/// One kind of case: category, subject and description as the worker writes them.
pub(super) struct CaseTemplate {
    pub(super) kind: CaseKind,
    pub(super) category: &'static str,
    pub(super) subject: &'static str,
    pub(super) description: &'static str,
    pub(super) confidential: bool,
    /// Hazards: the measure and who is responsible.
    pub(super) measure: &'static str,
    pub(super) responsible: &'static str,
}

const fn tpl(
    kind: CaseKind,
    category: &'static str,
    subject: &'static str,
    description: &'static str,
) -> CaseTemplate {
    CaseTemplate {
        kind,
        category,
        subject,
        description,
        confidential: false,
        measure: "",
        responsible: "",
    }
}

const fn hazard(
    category: &'static str,
    subject: &'static str,
    description: &'static str,
    measure: &'static str,
    responsible: &'static str,
) -> CaseTemplate {
    CaseTemplate {
        kind: CaseKind::Hazard,
        category,
        subject,
        description,
        confidential: false,
        measure,
        responsible,
    }
}

const fn secret(mut t: CaseTemplate) -> CaseTemplate {
    t.confidential = true;
    t
}

pub(super) const APPEALS: &[CaseTemplate] = &[
    tpl(
        CaseKind::Appeal,
        "water_supply",
        "停水多日，请求协调恢复供水",
        "近一周间歇性停水，居民生活用水困难，请求社区协调供水公司尽快检修。",
    ),
    tpl(
        CaseKind::Appeal,
        "street_light",
        "路灯损坏，夜间出行不便",
        "楼栋附近两盏路灯不亮已一周，老人夜间出行有摔倒风险。",
    ),
    tpl(
        CaseKind::Appeal,
        "elevator",
        "电梯故障频繁，老人上下楼困难",
        "电梯近一个月多次停运，楼内有行动不便的老人，请求督促物业维修。",
    ),
    tpl(
        CaseKind::Appeal,
        "dibao_inquiry",
        "咨询低保申请条件及办理流程",
        "家庭收入下降，咨询最低生活保障的申请条件和所需材料。",
    ),
    tpl(
        CaseKind::Appeal,
        "medical_insurance",
        "城乡居民医保缴费及报销咨询",
        "老人不会使用手机缴纳医保，请求协助办理并讲解报销政策。",
    ),
    tpl(
        CaseKind::Appeal,
        "property_service",
        "物业服务不到位，垃圾清运不及时",
        "小区垃圾桶满溢多日无人清运，气味难闻，请求督促物业整改。",
    ),
    tpl(
        CaseKind::Appeal,
        "road_repair",
        "背街小巷路面破损积水",
        "巷道路面坑洼，雨天积水严重，居民出行不便。",
    ),
    tpl(
        CaseKind::Appeal,
        "employment",
        "失业人员申请就业帮扶",
        "家中主要劳动力失业，希望社区推荐就业岗位或技能培训。",
    ),
    tpl(
        CaseKind::Appeal,
        "elderly_meal",
        "独居老人申请上门助餐服务",
        "老人独居行动不便，子女在外务工，申请社区助餐服务。",
    ),
    tpl(
        CaseKind::Appeal,
        "residence_certificate",
        "办理居住证明",
        "子女入学需要居住证明，请求社区核实出具。",
    ),
    tpl(
        CaseKind::Appeal,
        "sewer_blocked",
        "化粪池堵塞污水外溢",
        "楼下化粪池堵塞，污水外溢到路面，请求尽快疏通。",
    ),
    tpl(
        CaseKind::Appeal,
        "stray_dogs",
        "流浪犬聚集，居民担心被咬伤",
        "小区周边流浪犬较多，夜间吠叫，有老人孩子被追赶，请求处置。",
    ),
];

pub(super) const DISPUTES: &[CaseTemplate] = &[
    tpl(
        CaseKind::Dispute,
        "neighbour_noise",
        "楼上楼下噪音纠纷",
        "楼上住户夜间噪音较大，多次沟通未果，双方发生口角。",
    ),
    tpl(
        CaseKind::Dispute,
        "water_leak",
        "卫生间漏水渗至楼下引发纠纷",
        "楼上卫生间防水层破损，渗水导致楼下天花板发霉，双方对维修费用有争议。",
    ),
    secret(tpl(
        CaseKind::Dispute,
        "family_support",
        "子女赡养老人纠纷",
        "老人反映子女不履行赡养义务，兄弟之间互相推诿。",
    )),
    tpl(
        CaseKind::Dispute,
        "property_fee",
        "业主与物业服务费纠纷",
        "业主认为物业服务不到位拒交物业费，物业公司多次催缴。",
    ),
    tpl(
        CaseKind::Dispute,
        "parking_space",
        "车位占用纠纷",
        "邻居长期占用他人车位，双方多次争执。",
    ),
    tpl(
        CaseKind::Dispute,
        "wage_arrears",
        "装修工人工资拖欠纠纷",
        "装修工人反映业主拖欠工钱，业主认为工程质量有问题。",
    ),
    tpl(
        CaseKind::Dispute,
        "yard_boundary",
        "院坝使用边界纠纷",
        "相邻两户对院坝使用边界有争议，一方砌墙引发矛盾。",
    ),
    secret(tpl(
        CaseKind::Dispute,
        "marriage",
        "婚姻家庭矛盾",
        "夫妻因家庭琐事长期争吵，一方请求社区调解。",
    )),
    tpl(
        CaseKind::Dispute,
        "rent_deposit",
        "房东与租户押金纠纷",
        "租户退租时房东以房屋损坏为由扣押押金，双方争执不下。",
    ),
];

pub(super) const HAZARDS: &[CaseTemplate] = &[
    hazard(
        "fire_exit_blocked",
        "楼道堆放杂物堵塞消防通道",
        "楼道内堆放纸箱、旧家具，堵塞安全出口。",
        "清理楼道杂物，张贴消防安全提示，纳入日常巡查",
        "物业公司",
    ),
    hazard(
        "ebike_charging",
        "电动车楼道飞线充电",
        "有住户从窗户拉线在楼道为电动车充电，存在火灾隐患。",
        "劝导住户到集中充电点充电，拆除飞线",
        "住户",
    ),
    hazard(
        "gas_pipe",
        "燃气管道老化存在泄漏隐患",
        "居民反映厨房有燃气味，入户查看发现管道老化锈蚀。",
        "联系燃气公司更换老化管道和阀门，安装报警器",
        "燃气公司",
    ),
    hazard(
        "wiring",
        "老旧线路私拉乱接",
        "老旧楼栋电线裸露、私拉乱接，雨天有漏电风险。",
        "请电工重新布线，加装漏电保护器",
        "产权单位",
    ),
    hazard(
        "falling_tiles",
        "外墙瓷砖松动有坠落风险",
        "外墙多处瓷砖空鼓松动，下方为人行通道。",
        "设置警示区域，组织维修加固外墙",
        "物业公司",
    ),
    hazard(
        "retaining_wall",
        "挡土墙开裂，雨季有垮塌风险",
        "屋后挡土墙出现裂缝并有渗水，雨季可能垮塌。",
        "设置警戒线，报住建部门评估加固",
        "县住建局",
    ),
    hazard(
        "dilapidated_house",
        "危旧房屋存在安全隐患",
        "老旧木结构房屋梁柱腐朽，仍有老人居住。",
        "动员住户临时搬离，协助申请危房改造",
        "社区",
    ),
    hazard(
        "river_railing",
        "河边护栏缺失",
        "乌江边步道护栏缺失一段，儿童经常在此玩耍。",
        "加装临时护栏和警示牌，报水务部门修复",
        "县水务局",
    ),
    hazard(
        "fire_extinguisher",
        "楼栋灭火器过期失效",
        "楼栋内灭火器压力不足且已过期。",
        "更换灭火器并登记检查日期",
        "物业公司",
    ),
];
