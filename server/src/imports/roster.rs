//! A household roster (户籍花名册) as a table: which column holds which field (by the headers
//! street offices use, or a mapping file), each row read and checked into a [`Person`] or its
//! [`RowProblem`]s, and the people grouped into households by address (and 户主). Pure.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sync_core::ids::DocId;
use sync_core::models::household::{Address, Gender, Relation};
use sync_core::time::Date;
use sync_core::validate::{IdNumberProblem, ValidationContext, check_id_number};
use sync_core::vocab;

use super::{ImportField, ImportProblem};

/// How many rows from the top are searched for the header row (a title row often comes first).
const HEADER_SEARCH_ROWS: usize = 10;

/// Longest text kept per field, in characters (the record's own limits).
const MAX_NAME: usize = 50;
const MAX_COMPOUND: usize = 100;
const MAX_PART: usize = 50;
const MAX_NOTES: usize = 2000;

/// Which field each column holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ColumnUse {
    /// The column's header as written in the file.
    pub header: String,
    /// The field it was read as (`ImportField` code), or none when it is not read.
    pub field: Option<String>,
}

/// The header row and what each column holds.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Index of the header row in the table (0-based).
    pub header_row: usize,
    /// The headers as written.
    pub headers: Vec<String>,
    /// Per column, its field.
    pub fields: Vec<Option<ImportField>>,
}

impl Layout {
    /// The column of `field`, if the file has one.
    fn column(&self, field: ImportField) -> Option<usize> {
        self.fields.iter().position(|f| *f == Some(field))
    }

    /// What each column was read as.
    pub fn columns(&self) -> Vec<ColumnUse> {
        self.headers
            .iter()
            .zip(&self.fields)
            .map(|(h, f)| ColumnUse {
                header: h.clone(),
                field: f.map(|f| f.as_str().to_owned()),
            })
            .collect()
    }

    /// The header of column `c`.
    pub fn header(&self, c: usize) -> String {
        self.headers.get(c).cloned().unwrap_or_default()
    }

    /// The header of `field`'s column.
    pub fn header_of(&self, field: ImportField) -> Option<String> {
        self.column(field).map(|c| self.header(c))
    }
}

/// The field a header names by the usual wording of rosters and of our own household export,
/// or `None` for a header we do not know.
pub fn field_of_header(header: &str) -> Option<ImportField> {
    use ImportField as F;
    let h: String = header
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '*' | '（' | '）' | '(' | ')'))
        .collect();
    Some(match h.as_str() {
        "编号" | "住户编号" | "户编号" => F::HouseholdId,
        "户主" | "户主姓名" => F::Head,
        "姓名" | "居民姓名" | "人员姓名" | "成员姓名" => F::Name,
        "身份证号" | "身份证号码" | "公民身份号码" | "证件号码" | "身份证" => {
            F::IdNumber
        }
        "联系电话" | "手机号" | "手机号码" | "电话" | "联系方式" => F::Phone,
        "与户主关系" | "关系" => F::Relation,
        "性别" => F::Gender,
        "出生日期" | "出生年月" | "出生年月日" => F::BirthDate,
        "地址" | "住址" | "家庭住址" | "现住址" | "居住地址" => F::Address,
        "小区" | "小区名称" | "院落" => F::Compound,
        "楼栋" | "栋" | "楼号" | "幢" => F::Building,
        "单元" => F::Unit,
        "门牌" | "门牌号" | "房号" | "室" | "房间号" => F::Room,
        "特殊人群" | "特殊群体" | "人群类别" => F::SpecialGroups,
        "标签" | "住户标签" => F::Tags,
        "备注" => F::Notes,
        // Columns of our own export that are computed or named elsewhere: read, never
        // written back.
        "序号" | "社区" | "网格" | "状态" | "在住人数" | "联户分组" | "更新时间" => {
            F::Ignore
        }
        _ => return None,
    })
}

/// Finds the header row (the first of the top rows naming a person's name and at least one
/// more field) and maps its columns, `mapping` (header → field) first.
pub fn layout(table: &[Vec<String>], mapping: &BTreeMap<String, ImportField>) -> Option<Layout> {
    for (i, row) in table.iter().take(HEADER_SEARCH_ROWS).enumerate() {
        let fields: Vec<Option<ImportField>> = row
            .iter()
            .map(|h| {
                mapping
                    .get(h.trim())
                    .copied()
                    .or_else(|| field_of_header(h))
            })
            .collect();
        let known = fields
            .iter()
            .filter(|f| f.is_some_and(|f| f != ImportField::Ignore))
            .count();
        let has_address = fields.iter().any(|f| {
            matches!(
                f,
                Some(ImportField::Address | ImportField::Compound | ImportField::HouseholdId)
            )
        });
        if known >= 2 && has_address {
            return Some(Layout {
                header_row: i,
                headers: row.iter().map(|h| h.trim().to_owned()).collect(),
                fields,
            });
        }
    }
    None
}

/// One problem of one row: its row number in the file (1-based, as a spreadsheet numbers it),
/// the column's header and the problem's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    /// The row number in the file (the header row's number + 1 for the first person).
    pub row: u32,
    /// The header of the column at fault, if one is.
    pub column: Option<String>,
    /// What is wrong (`import_problem` code of the vocabulary).
    pub problem: String,
}

/// One resident as a row describes them, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Row number in the file.
    pub row: u32,
    /// Name (empty on a household-only row, as our household export writes).
    pub name: String,
    /// The head of household's name from the 户主 column, if any.
    pub head: Option<String>,
    /// ID number, upper-case `X`.
    pub id_number: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Relation to the head.
    pub relation: Option<Relation>,
    /// Gender (from the column, else from the ID number).
    pub gender: Option<Gender>,
    /// Birth date (from the column, else from the ID number).
    pub birth_date: Option<Date>,
    /// Special-group codes.
    pub special_groups: Vec<String>,
    /// Household tag codes.
    pub tags: Vec<String>,
    /// Notes for the household.
    pub notes: String,
    /// Address.
    pub address: Address,
    /// The household's record id (our export's 编号 column).
    pub household_id: Option<DocId>,
}

impl Person {
    /// A household-only row (no person: our household export's rows).
    pub fn is_household_only(&self) -> bool {
        self.name.is_empty()
    }
}

/// The rows of a table checked: the valid people, the problems, and the cells of each row
/// (for the report).
#[derive(Debug, Default)]
pub struct Checked {
    /// Valid rows.
    pub people: Vec<Person>,
    /// Problems, in row order.
    pub problems: Vec<RowProblem>,
    /// How many rows held anything.
    pub rows: usize,
}

/// Reads and checks every row below the header. `today` bounds birth dates.
pub fn check_rows(
    table: &[Vec<String>],
    layout: &Layout,
    ctx: &ValidationContext,
    today: Date,
    progress: &dyn Fn(usize, usize),
) -> Checked {
    let mut out = Checked::default();
    let body = &table[layout.header_row + 1..];
    let mut seen_ids: HashMap<String, u32> = HashMap::new();
    for (i, cells) in body.iter().enumerate() {
        if i % 500 == 0 {
            progress(i, body.len());
        }
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        out.rows += 1;
        let row = u32::try_from(layout.header_row + 2 + i).unwrap_or(u32::MAX);
        let mut problems = Vec::new();
        let person = check_row(row, cells, layout, ctx, today, &mut problems);
        if let Some(id) = person.id_number.as_ref().filter(|_| problems.is_empty()) {
            match seen_ids.get(id) {
                Some(_) => problems.push((ImportField::IdNumber, ImportProblem::DuplicateIdNumber)),
                None => {
                    seen_ids.insert(id.clone(), row);
                }
            }
        }
        if problems.is_empty() {
            out.people.push(person);
        } else {
            for (field, problem) in problems {
                out.problems.push(RowProblem {
                    row,
                    column: layout.header_of(field),
                    problem: problem.as_str().to_owned(),
                });
            }
        }
    }
    progress(body.len(), body.len());
    check_households(&mut out, layout);
    out
}

type Found = Vec<(ImportField, ImportProblem)>;

fn check_row(
    row: u32,
    cells: &[String],
    layout: &Layout,
    ctx: &ValidationContext,
    today: Date,
    problems: &mut Found,
) -> Person {
    use ImportField as F;
    use ImportProblem as P;
    let cell = |field: F| -> String {
        layout
            .column(field)
            .and_then(|c| cells.get(c))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    let name = cell(F::Name);
    let head = Some(cell(F::Head)).filter(|h| !h.is_empty());

    // The household's id (our export's 编号).
    let household_id = match cell(F::HouseholdId) {
        s if s.is_empty() => None,
        s => match s.parse::<DocId>() {
            Ok(id) => Some(id),
            Err(_) => {
                problems.push((F::HouseholdId, P::HouseholdIdInvalid));
                None
            }
        },
    };
    let household_only = name.is_empty() && household_id.is_some();
    if name.is_empty() && !household_only {
        problems.push((F::Name, P::NameMissing));
    } else if name.chars().count() > MAX_NAME {
        problems.push((F::Name, P::NameTooLong));
    } else if name.chars().any(|c| c.is_ascii_digit()) {
        problems.push((F::Name, P::NameHasDigits));
    }

    // Address: the parts, else the whole address read into parts.
    let address = if layout.column(F::Compound).is_some() {
        Address {
            compound: cell(F::Compound),
            building: cell(F::Building),
            unit: cell(F::Unit),
            room: cell(F::Room),
        }
    } else {
        let whole = cell(F::Address);
        if whole.is_empty() {
            Address {
                compound: String::new(),
                building: String::new(),
                unit: String::new(),
                room: String::new(),
            }
        } else {
            match parse_address(&whole) {
                Some(a) => a,
                None => {
                    problems.push((F::Address, P::AddressUnreadable));
                    Address {
                        compound: whole,
                        building: String::new(),
                        unit: String::new(),
                        room: String::new(),
                    }
                }
            }
        }
    };
    let address_column = if layout.column(F::Compound).is_some() {
        F::Compound
    } else {
        F::Address
    };
    if !problems.iter().any(|(_, p)| *p == P::AddressUnreadable) {
        if address.compound.trim().is_empty() && address.room.trim().is_empty() {
            problems.push((address_column, P::AddressMissing));
        } else if address.room.trim().is_empty() {
            let column = if layout.column(F::Room).is_some() {
                F::Room
            } else {
                address_column
            };
            problems.push((column, P::RoomMissing));
        } else if address.compound.trim().is_empty() {
            problems.push((address_column, P::CompoundMissing));
        } else if address.compound.chars().count() > MAX_COMPOUND
            || [&address.building, &address.unit, &address.room]
                .iter()
                .any(|p| p.chars().count() > MAX_PART)
        {
            problems.push((address_column, P::AddressTooLong));
        }
    }

    // ID number (GB 11643) and what it encodes.
    let id_text = cell(F::IdNumber).replace([' ', '\u{3000}'], "");
    let mut id_born = None;
    let mut id_gender = None;
    let id_number = if id_text.is_empty() {
        None
    } else {
        let id = id_text.to_ascii_uppercase();
        match check_id_number(&id) {
            Ok(born) => {
                id_born = Some(born);
                id_gender = id[16..17].parse::<u8>().ok().map(|d| {
                    if d % 2 == 1 {
                        Gender::Male
                    } else {
                        Gender::Female
                    }
                });
                if born > today {
                    problems.push((F::IdNumber, P::IdNumberBirthDate));
                }
            }
            Err(IdNumberProblem::Format) => {
                let p = if id.chars().count() == 15 {
                    P::IdNumberOld
                } else {
                    P::IdNumberFormat
                };
                problems.push((F::IdNumber, p));
            }
            Err(IdNumberProblem::BirthDate) => problems.push((F::IdNumber, P::IdNumberBirthDate)),
            Err(IdNumberProblem::CheckDigit) => {
                problems.push((F::IdNumber, P::IdNumberCheckDigit));
            }
        }
        Some(id)
    };

    // Phone: a mobile (11 digits starting with 1) or a landline (area code and number).
    let phone = match cell(F::Phone) {
        s if s.is_empty() => None,
        s => {
            let phone: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
            if !phone_ok(&phone) {
                problems.push((F::Phone, P::PhoneInvalid));
            }
            Some(s)
        }
    };

    // Gender: the column, else the ID number; the two must agree.
    let gender = match cell(F::Gender) {
        s if s.is_empty() => id_gender,
        s => match parse_gender(&s) {
            Some(g) => {
                if id_gender.is_some_and(|i| i != g) {
                    problems.push((F::Gender, P::GenderMismatch));
                }
                Some(g)
            }
            None => {
                problems.push((F::Gender, P::GenderUnknown));
                None
            }
        },
    };
    if gender.is_none() && !household_only && !problems.iter().any(|(f, _)| *f == F::Gender) {
        problems.push((F::Gender, P::GenderMissing));
    }

    // Birth date: the column, else the ID number; the two must agree.
    let birth_date = match cell(F::BirthDate) {
        s if s.is_empty() => id_born,
        s => match parse_date(&s) {
            Some(d) if d > today => {
                problems.push((F::BirthDate, P::BirthDateFuture));
                None
            }
            Some(d) => {
                if id_born.is_some_and(|b| b != d) {
                    problems.push((F::BirthDate, P::BirthDateMismatch));
                }
                Some(d)
            }
            None => {
                problems.push((F::BirthDate, P::BirthDateInvalid));
                None
            }
        },
    };

    // Relation: the column, else 户主 when the row's name is the head's.
    let relation = match cell(F::Relation) {
        s if s.is_empty() => {
            if head.as_deref() == Some(name.as_str()) && !name.is_empty() {
                Some(Relation::Head)
            } else {
                if !household_only {
                    problems.push((F::Relation, P::RelationMissing));
                }
                None
            }
        }
        s => match parse_relation(&s) {
            Some(r) => Some(r),
            None => {
                problems.push((F::Relation, P::RelationUnknown));
                None
            }
        },
    };
    if relation == Some(Relation::Head)
        && let Some(head) = &head
        && head != &name
    {
        problems.push((F::Head, P::HeadNameMismatch));
    }

    let special_groups = codes_of(
        &cell(F::SpecialGroups),
        |label| special_group_code(label, ctx),
        problems,
        (F::SpecialGroups, P::SpecialGroupUnknown),
    );
    let tags = codes_of(
        &cell(F::Tags),
        |label| {
            vocab::HOUSEHOLD_TAGS
                .iter()
                .find(|e| e.zh == label || e.code == label)
                .map(|e| e.code.to_owned())
        },
        problems,
        (F::Tags, P::TagUnknown),
    );
    let notes = cell(F::Notes);
    if notes.chars().count() > MAX_NOTES {
        problems.push((F::Notes, P::NotesTooLong));
    }

    Person {
        row,
        name,
        head,
        id_number,
        phone,
        relation,
        gender,
        birth_date,
        special_groups,
        tags,
        notes,
        address,
        household_id,
    }
}

/// The codes of a list cell (`低保、残疾人`), each label looked up with `code`; an unknown one
/// is `unknown`.
fn codes_of(
    text: &str,
    code: impl Fn(&str) -> Option<String>,
    problems: &mut Found,
    unknown: (ImportField, ImportProblem),
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for label in text
        .split(['、', ',', '，', ';', '；', '/', ' ', '|'])
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "无")
    {
        match code(label) {
            Some(c) => {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            None => {
                problems.push(unknown);
                return out;
            }
        }
    }
    out
}

fn special_group_code(label: &str, ctx: &ValidationContext) -> Option<String> {
    let entry = vocab::SPECIAL_GROUPS
        .iter()
        .find(|e| e.zh == label || e.code == label)
        .map(|e| e.code.to_owned())
        .or_else(|| match label {
            "低保户" | "低保对象" => Some("dibao".to_owned()),
            "特困户" | "特困人员" | "五保户" => Some("tekun".to_owned()),
            "残疾" => Some("disabled".to_owned()),
            _ => None,
        })?;
    ctx.special_groups.contains(&entry).then_some(entry)
}

fn phone_ok(phone: &str) -> bool {
    let digits = phone.strip_prefix("+86").unwrap_or(phone);
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    match digits.len() {
        11 => digits.starts_with('1') || digits.starts_with('0'),
        // A landline with its area code (0856 1234567) or without (1234567, 12345678).
        7 | 8 => !digits.starts_with('0'),
        10 | 12 => digits.starts_with('0'),
        _ => false,
    }
}

fn parse_gender(s: &str) -> Option<Gender> {
    match s.to_ascii_lowercase().as_str() {
        "男" | "男性" | "m" | "male" => Some(Gender::Male),
        "女" | "女性" | "f" | "female" => Some(Gender::Female),
        _ => None,
    }
}

/// A relation's label (户主, 配偶, ...), a code, or the words rosters use for one (妻, 长子...).
pub fn parse_relation(s: &str) -> Option<Relation> {
    if let Some(r) = Relation::ALL
        .iter()
        .find(|r| r.label_zh() == s || r.as_str() == s)
    {
        return Some(*r);
    }
    Some(match s {
        "本人" | "户主本人" => Relation::Head,
        "妻" | "妻子" | "夫" | "丈夫" | "爱人" => Relation::Spouse,
        "子" | "女" | "儿子" | "女儿" | "长子" | "次子" | "三子" | "长女" | "次女" | "三女"
        | "独生子" | "独生女" | "养子" | "养女" | "继子" | "继女" => Relation::Child,
        "父亲" | "母亲" | "父" | "母" | "岳父" | "岳母" | "公公" | "婆婆" => {
            Relation::Parent
        }
        "孙子" | "孙女" | "外孙" | "外孙子" | "外孙女" => Relation::Grandchild,
        "兄" | "弟" | "姐" | "妹" | "兄弟" | "姐妹" | "哥哥" | "弟弟" | "姐姐" | "妹妹" => {
            Relation::Sibling
        }
        "儿媳" | "女婿" | "侄子" | "侄女" | "外甥" | "外甥女" | "祖父" | "祖母" | "外祖父"
        | "外祖母" => Relation::OtherRelative,
        "租客" | "租住" | "承租人" => Relation::Tenant,
        _ => return None,
    })
}

/// A date as rosters write it: `1980-01-02`, `1980/1/2`, `1980.1.2`, `19800102`,
/// `1980年1月2日`.
pub fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if s.len() == 8 && s.chars().all(|c| c.is_ascii_digit()) {
        return chrono::NaiveDate::parse_from_str(s, "%Y%m%d")
            .ok()
            .map(Date);
    }
    let parts: Vec<&str> = s
        .trim_end_matches('日')
        .split(['-', '/', '.', '年', '月'])
        .collect();
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    let (y, m, d) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    if !(1880..=2200).contains(&y) {
        return None;
    }
    Date::from_ymd(y, m, d)
}

/// A whole address (`乌江水岸1栋2单元302室`, `丁字口小区3号楼102`) in its parts: the
/// compound up to the building, then building (栋, 幢, 号楼), unit (单元) and room (室, 号, or
/// the trailing number). `None` when no room can be found.
pub fn parse_address(s: &str) -> Option<Address> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let chars: Vec<char> = s.chars().collect();
    // The room: the trailing run of digits (and letters/-), before an optional 室 or 号.
    let mut end = chars.len();
    if end > 0 && matches!(chars[end - 1], '室' | '号') {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && (chars[start - 1].is_ascii_alphanumeric() || chars[start - 1] == '-') {
        start -= 1;
    }
    if start == end {
        return None;
    }
    let room: String = chars[start..end].iter().collect();
    let rest: String = chars[..start].iter().collect();
    // The unit: `N单元` at the end of the rest.
    let (rest, unit) = split_numbered(&rest, &["单元"]);
    let (rest, building) = split_numbered(&rest, &["号楼", "栋", "幢"]);
    let compound = rest.trim_end_matches(['-', '—']).to_owned();
    if compound.is_empty() {
        return None;
    }
    Some(Address {
        compound,
        building,
        unit,
        room,
    })
}

/// Splits `text` ending in a number followed by one of `words` into what comes before and the
/// number; `(text, "")` when it does not end so.
fn split_numbered(text: &str, words: &[&str]) -> (String, String) {
    for word in words {
        if let Some(before) = text.strip_suffix(word) {
            let chars: Vec<char> = before.chars().collect();
            let mut start = chars.len();
            while start > 0 && (chars[start - 1].is_ascii_alphanumeric()) {
                start -= 1;
            }
            if start < chars.len() {
                return (
                    chars[..start].iter().collect(),
                    chars[start..].iter().collect(),
                );
            }
        }
    }
    (text.to_owned(), String::new())
}

/// One household of the file: its address, its head's name (from the 户主 column) and its
/// people, in file order.
#[derive(Debug, Clone)]
pub struct FileHousehold {
    /// Address (the first row's).
    pub address: Address,
    /// The record id named by the 编号 column, if any row names one.
    pub household_id: Option<DocId>,
    /// The people (household-only rows have no name).
    pub people: Vec<Person>,
}

/// The key of a person's household in the file: the record id when the row names one, else
/// the address (as the index sorts it: `2栋` is building 2) and the head's name.
fn group_key(p: &Person) -> (String, String) {
    match &p.household_id {
        Some(id) => (format!("id:{id}"), String::new()),
        None => (p.address.sort_key(), p.head.clone().unwrap_or_default()),
    }
}

/// The households of the file, in the order of their first rows.
pub fn households(people: Vec<Person>) -> Vec<FileHousehold> {
    let mut order: Vec<FileHousehold> = Vec::new();
    let mut at: HashMap<(String, String), usize> = HashMap::new();
    for p in people {
        let key = group_key(&p);
        match at.get(&key) {
            Some(&i) => order[i].people.push(p),
            None => {
                at.insert(key, order.len());
                order.push(FileHousehold {
                    address: p.address.clone(),
                    household_id: p.household_id.clone(),
                    people: vec![p],
                });
            }
        }
    }
    order
}

/// Checks across the rows of one household: a second head, and the same name twice without ID
/// numbers to tell them apart. The later row is the one at fault.
fn check_households(checked: &mut Checked, layout: &Layout) {
    let people = std::mem::take(&mut checked.people);
    let mut keep = Vec::with_capacity(people.len());
    let mut heads: HashMap<(String, String), u32> = HashMap::new();
    let mut names: HashMap<((String, String), String), bool> = HashMap::new();
    for p in people {
        let key = group_key(&p);
        let mut problem = None;
        if p.relation == Some(Relation::Head) {
            if heads.contains_key(&key) {
                problem = Some((ImportField::Relation, ImportProblem::TwoHeads));
            } else {
                heads.insert(key.clone(), p.row);
            }
        }
        if problem.is_none() && !p.name.is_empty() {
            let name_key = (key.clone(), p.name.clone());
            match names.get(&name_key) {
                Some(had_id) if !had_id || p.id_number.is_none() => {
                    problem = Some((ImportField::Name, ImportProblem::DuplicateName));
                }
                _ => {
                    names.insert(name_key, p.id_number.is_some());
                }
            }
        }
        match problem {
            Some((field, problem)) => checked.problems.push(RowProblem {
                row: p.row,
                column: layout.header_of(field),
                problem: problem.as_str().to_owned(),
            }),
            None => keep.push(p),
        }
    }
    checked.problems.sort_by_key(|p| p.row);
    checked.people = keep;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_addresses_split_into_their_parts() {
        let a = parse_address("乌江水岸1栋2单元302室").unwrap();
        assert_eq!(
            (&*a.compound, &*a.building, &*a.unit, &*a.room),
            ("乌江水岸", "1", "2", "302")
        );
        let b = parse_address("丁字口小区3号楼102").unwrap();
        assert_eq!(
            (&*b.compound, &*b.building, &*b.unit, &*b.room),
            ("丁字口小区", "3", "", "102")
        );
        assert!(parse_address("乌江水岸").is_none());
    }

    #[test]
    fn dates_and_relations_read_as_rosters_write_them() {
        let d = Date::from_ymd(1980, 1, 2).unwrap();
        for s in [
            "1980-01-02",
            "1980/1/2",
            "1980.1.2",
            "19800102",
            "1980年1月2日",
        ] {
            assert_eq!(parse_date(s), Some(d), "{s}");
        }
        assert_eq!(parse_date("1980-02-30"), None);
        assert_eq!(parse_relation("妻"), Some(Relation::Spouse));
        assert_eq!(parse_relation("配偶"), Some(Relation::Spouse));
        assert_eq!(parse_relation("邻居"), None);
    }

    #[test]
    fn the_header_row_is_found_below_a_title() {
        let table = vec![
            vec!["和平街道户籍花名册".to_owned()],
            vec![
                "序号".into(),
                "姓名".into(),
                "身份证号".into(),
                "地址".into(),
            ],
        ];
        let l = layout(&table, &BTreeMap::new()).unwrap();
        assert_eq!(l.header_row, 1);
        assert_eq!(l.fields[1], Some(ImportField::Name));
    }
}
