//! The words records are made of: people's names, phone numbers, the region codes of ID
//! numbers, and the organisations, titles, notes and reasons the generators pick from.

use sync_core::models::household::Gender;

use super::rng::Rng;

const SURNAMES: &[&str] = &[
    "田", "杨", "张", "冉", "崔", "何", "李", "王", "刘", "陈", "黄", "吴", "周", "徐", "肖", "谢",
    "罗", "彭", "向", "龙", "覃", "付", "任", "安", "侯", "谯", "敖", "谭", "邓", "秦", "汪", "喻",
    "陆", "舒", "姚", "蒋", "曾", "高", "赵", "孙", "田", "杨", "张", "冉", "崔", "何", "李", "王",
];
const MALE_CHARS: &[&str] = &[
    "伟", "强", "军", "勇", "杰", "涛", "明", "超", "华", "平", "刚", "辉", "林", "波", "斌", "鹏",
    "峰", "磊", "兵", "建", "国", "志", "文", "海", "宇", "浩", "俊", "祥", "成", "德", "福", "贵",
    "荣", "生", "发", "金", "龙", "云", "江", "洪", "毅", "昌", "顺", "忠", "学", "永",
];
const FEMALE_CHARS: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "桂", "英", "兰", "秀", "梅", "琴",
    "红", "萍", "慧", "婷", "雪", "琳", "洁", "倩", "颖", "欣", "怡", "佳", "蓉", "凤", "菊", "珍",
];

/// A name: a surname and one or two given characters.
pub(super) fn person_name(rng: &mut Rng, gender: Gender) -> String {
    let chars = match gender {
        Gender::Male => MALE_CHARS,
        Gender::Female => FEMALE_CHARS,
    };
    let mut name = (rng.pick(SURNAMES)).to_owned();
    name.push_str(rng.pick(chars));
    if rng.chance(0.7) {
        name.push_str(rng.pick(chars));
    }
    name
}

/// A name of either gender.
pub(super) fn any_name(rng: &mut Rng) -> String {
    let gender = if rng.chance(0.5) {
        Gender::Male
    } else {
        Gender::Female
    };
    person_name(rng, gender)
}

const PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "157", "158", "159", "166", "173", "177", "180", "181", "183", "185", "186", "187", "188",
    "189", "191", "198", "199",
];

/// A mobile number.
pub(super) fn phone(rng: &mut Rng) -> String {
    format!("{}{:08}", rng.pick(PHONE_PREFIXES), rng.below(100_000_000))
}

/// Region codes of ID numbers: Yanhe (old and new code) and neighbouring counties.
pub(super) const REGION_YANHE_OLD: &str = "522228";
pub(super) const REGION_YANHE_NEW: &str = "520627";
pub(super) const REGIONS_ELSEWHERE: &[&str] =
    &["522227", "522226", "522229", "522225", "500242", "520602"];

pub(super) const REJECT_REASONS: &[&str] = &[
    "不属于社区受理范围，已告知当事人向县信访局反映",
    "重复上报，已合并至原案件办理",
    "经现场核实，反映情况不属实",
];
pub(super) const CANCEL_REASONS: &[&str] = &[
    "当事人撤回诉求",
    "问题已由相关部门自行解决",
    "重复案件，予以撤销",
];
pub(super) const DISPATCH_NOTES: &[&str] = &[
    "请尽快到现场核实处理",
    "请联系当事人了解情况后处理",
    "请会同物业公司处理",
];

pub(super) const ORGANIZATIONS: &[&str] = &[
    "沿河县教育局机关党支部",
    "沿河县人民医院党总支",
    "国家税务总局沿河县税务局党支部",
    "沿河民族中学党总支",
    "沿河县供电局党支部",
    "沿河县交通运输局党支部",
    "沿河县自然资源局党支部",
    "和平街道机关党支部",
    "沿河县公安局党委",
    "沿河县住建局党支部",
    "中国移动沿河分公司党支部",
    "沿河县财政局党支部",
    "沿河县中医院党支部",
    "沿河县市场监管局党支部",
];

pub(super) const VISIT_SUMMARIES: &[&str] = &[
    "入户走访，了解家庭近况，无异常",
    "核实家庭人口信息，更新联系方式",
    "宣传反电信诈骗知识，发放宣传册",
    "宣传城乡居民医保缴费政策",
    "提醒注意用电用气安全，检查厨房燃气阀门",
    "了解就业情况，登记就业意向",
    "宣传《住宅小区物业管理条例》",
    "征求对社区工作的意见建议",
    "宣传移风易俗，倡导红事新办、白事简办",
];
pub(super) const VISIT_SUMMARIES_CARE: &[&str] = &[
    "看望独居老人，身体状况良好，叮嘱按时服药",
    "走访低保家庭，了解生活困难，登记帮扶需求",
    "看望残疾人家庭，了解康复和护理需求",
    "看望留守儿童，了解学习和生活情况",
    "走访特殊群体家庭，落实关爱措施",
];

pub(super) const SERVICE_TITLES: &[&str] = &[
    "志愿者为独居老人上门理发",
    "义诊进社区",
    "志愿者清理背街小巷环境卫生",
    "为困难家庭送米送油",
    "法律咨询进小区",
    "电动车免费检修",
    "关爱留守儿童课后辅导",
    "助老助餐送上门",
];
pub(super) const CULTURAL_TITLES: &[&str] = &[
    "千家宴",
    "广场舞展演",
    "主题阅读活动",
    "重阳节敬老文艺汇演",
    "端午包粽子邻里节",
    "中秋邻里联欢会",
];
pub(super) const OUTREACH_TITLES: &[&str] = &[
    "宣讲党的二十大精神",
    "反电信诈骗宣传",
    "《住宅小区物业管理条例》宣传",
    "移风易俗宣传",
    "惠民政策宣讲",
    "城乡居民医保缴费政策宣传",
];
pub(super) const ACTIVITY_PLACES: &[&str] = &[
    "社区新时代文明实践站",
    "社区老年学校",
    "社区农家书屋",
    "红色议事厅",
    "社区小广场",
];

pub(super) const PATROL_NOTES: &[&str] = &[
    "巡查沿街商铺，提醒关好门窗",
    "发现路灯不亮一处，已记录上报",
    "劝离深夜在河边逗留的青少年",
    "提醒夜宵摊主注意用火安全",
    "巡查小区地下车库，未发现异常",
];
