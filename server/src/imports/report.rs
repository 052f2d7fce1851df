//! The validation report of an import as a workbook: a summary sheet, and one row per problem
//! with the row number, the column, the reason in Chinese and English (from the vocabulary's
//! `import_problem` group) and the row's cells as the file had them, so the office can fix the
//! file and import it again.

use rust_xlsxwriter::{Format, Workbook};

use super::{ImportOutcome, ImportProblem};

/// The headers of the problems sheet, before the file's own columns.
const PROBLEM_HEADERS: [&str; 4] = ["行号", "列", "问题", "Problem"];

/// The workbook of `outcome`'s report.
pub fn workbook(outcome: &ImportOutcome) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let s = &outcome.summary;

    let summary = book.add_worksheet();
    summary.set_name("汇总")?;
    let state = if s.written {
        "已写入 written"
    } else if s.dry_run {
        "试导入，未写入 dry run, nothing written"
    } else if outcome.refused.is_some() {
        "有错误行，未写入 invalid rows, nothing written"
    } else {
        "未写入 nothing written"
    };
    let lines: [(&str, String); 10] = [
        ("结果 Result", state.to_owned()),
        ("总行数 Rows", s.rows.to_string()),
        ("有效行 Valid rows", s.valid_rows.to_string()),
        ("错误行 Invalid rows", s.invalid_rows.to_string()),
        (
            "新增住户 Households created",
            s.households_created.to_string(),
        ),
        (
            "更新住户 Households updated",
            s.households_updated.to_string(),
        ),
        (
            "未变住户 Households unchanged",
            s.households_unchanged.to_string(),
        ),
        (
            "新增居民 Residents created",
            s.residents_created.to_string(),
        ),
        (
            "更新居民 Residents updated",
            s.residents_updated.to_string(),
        ),
        ("问题数 Problems", s.problems.len().to_string()),
    ];
    for (r, (label, value)) in lines.iter().enumerate() {
        let r = u32::try_from(r).unwrap_or(u32::MAX);
        summary.write_string_with_format(r, 0, *label, &bold)?;
        summary.write_string(r, 1, value)?;
    }
    summary.set_column_width(0, 30)?;
    summary.set_column_width(1, 40)?;

    let sheet = book.add_worksheet();
    sheet.set_name("问题")?;
    let mut c: u16 = 0;
    for h in PROBLEM_HEADERS
        .iter()
        .map(|h| (*h).to_owned())
        .chain(outcome.headers.iter().cloned())
    {
        sheet.write_string_with_format(0, c, &h, &bold)?;
        c = c.saturating_add(1);
    }
    for (i, p) in s.problems.iter().enumerate() {
        let r = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let problem = p.problem.parse::<ImportProblem>().ok();
        sheet.write_number(r, 0, f64::from(p.row))?;
        sheet.write_string(r, 1, p.column.as_deref().unwrap_or_default())?;
        sheet.write_string(r, 2, problem.map_or(p.problem.as_str(), |x| x.label_zh()))?;
        sheet.write_string(r, 3, problem.map_or(p.problem.as_str(), |x| x.label_en()))?;
        if let Some(cells) = outcome.invalid_cells.get(&p.row) {
            for (j, cell) in cells.iter().enumerate() {
                let col = u16::try_from(j + PROBLEM_HEADERS.len()).unwrap_or(u16::MAX);
                // Strings always: an ID number stays text.
                sheet.write_string(r, col, cell)?;
            }
        }
    }
    sheet.set_column_width(2, 36)?;
    sheet.set_column_width(3, 36)?;
    book.save_to_buffer()
}
