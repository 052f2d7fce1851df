//! The monthly report as a workbook: a sheet 月报 with the title, the summary and every
//! figure of the place (时点数 apart from 本月), then one sheet per community (分社区) and per
//! grid (分网格) with a column per figure. Labels from the vocabulary.

use rust_xlsxwriter::{Format, FormatAlign, Workbook, Worksheet, XlsxError};

use super::{FigureValue, MonthlyReport, PlaceLevel, ReportRow};

/// Writes one value with the format its kind needs.
fn write_value(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    v: FigureValue,
    formats: &Formats,
) -> Result<(), XlsxError> {
    match v {
        FigureValue::Count(n) => {
            sheet.write_number_with_format(row, col, n as f64, &formats.count)?;
        }
        FigureValue::Rate(Some(r)) => {
            sheet.write_number_with_format(row, col, r, &formats.rate)?;
        }
        FigureValue::Rate(None) => {
            sheet.write_string(row, col, "—")?;
        }
        FigureValue::Yuan(y) => {
            sheet.write_number_with_format(row, col, y, &formats.money)?;
        }
    }
    Ok(())
}

struct Formats {
    count: Format,
    rate: Format,
    money: Format,
    bold: Format,
    header: Format,
}

/// A sheet of rows (communities or grids) with a column per figure.
fn rows_sheet(
    book: &mut Workbook,
    name: &str,
    place_header: &str,
    rows: &[ReportRow],
    totals: &super::PlaceFigures,
    formats: &Formats,
) -> Result<(), XlsxError> {
    let sheet = book.add_worksheet();
    sheet.set_name(name)?;
    sheet.write_string_with_format(0, 0, place_header, &formats.header)?;
    sheet.set_column_width(0, 18)?;
    let figures = totals.values();
    for (i, (f, _)) in figures.iter().enumerate() {
        let col = u16::try_from(i + 1).unwrap_or(u16::MAX);
        sheet.write_string_with_format(0, col, f.label_zh(), &formats.header)?;
        sheet.set_column_width(col, 12)?;
    }
    sheet.set_row_height(0, 45)?;
    sheet.set_freeze_panes(1, 1)?;
    let mut r = 1u32;
    for row in rows {
        sheet.write_string(r, 0, &row.name)?;
        for (i, (_, v)) in row.figures.values().into_iter().enumerate() {
            write_value(
                sheet,
                r,
                u16::try_from(i + 1).unwrap_or(u16::MAX),
                v,
                formats,
            )?;
        }
        r += 1;
    }
    sheet.write_string_with_format(r, 0, "合计", &formats.bold)?;
    for (i, (_, v)) in figures.into_iter().enumerate() {
        write_value(
            sheet,
            r,
            u16::try_from(i + 1).unwrap_or(u16::MAX),
            v,
            formats,
        )?;
    }
    Ok(())
}

/// The report as an `.xlsx` file.
pub fn workbook(report: &MonthlyReport) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let formats = Formats {
        count: Format::new().set_num_format("#,##0"),
        rate: Format::new().set_num_format("0.0%"),
        money: Format::new().set_num_format("#,##0.00"),
        bold: Format::new().set_bold(),
        header: Format::new()
            .set_bold()
            .set_text_wrap()
            .set_align(FormatAlign::Center)
            .set_align(FormatAlign::VerticalCenter),
    };
    let title = Format::new().set_bold().set_font_size(16);
    let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);

    let sheet = book.add_worksheet();
    sheet.set_name("月报")?;
    sheet.set_column_width(0, 30)?;
    sheet.set_column_width(1, 16)?;
    sheet.set_column_width(2, 40)?;
    sheet.write_string_with_format(0, 0, &report.title, &title)?;
    let period = format!(
        "统计期间：{} 至 {}{}",
        &report.period.from,
        &report.period.to,
        if report.complete {
            ""
        } else {
            "（本月尚未结束，数据截至制表时）"
        }
    );
    sheet.write_string(1, 0, &period)?;
    sheet.write_string(2, 0, format!("制表时间：{}", report.as_of))?;
    sheet.merge_range(3, 0, 3, 2, &report.summary, &wrap)?;
    sheet.set_row_height(3, 150)?;
    let mut r = 5u32;
    let values = report.totals.values();
    for (heading, snapshot) in [("时点数（截至制表时 / 月末）", true), ("本月数", false)]
    {
        sheet.write_string_with_format(r, 0, heading, &formats.header)?;
        sheet.write_string_with_format(r, 1, "数值", &formats.header)?;
        sheet.write_string_with_format(r, 2, "English", &formats.header)?;
        r += 1;
        for (f, v) in values.iter().filter(|(f, _)| f.is_snapshot() == snapshot) {
            sheet.write_string(r, 0, f.label_zh())?;
            write_value(sheet, r, 1, *v, &formats)?;
            sheet.write_string(r, 2, f.label_en())?;
            r += 1;
        }
        r += 1;
    }
    sheet.write_string(
        r,
        0,
        "说明：在册户数、联户长、联户覆盖户数、超期案件为制表时的数；双报到党员（累计）截至月末；其余为本月发生数。",
    )?;

    if report.place.level == PlaceLevel::Street {
        rows_sheet(
            &mut book,
            "分社区",
            "社区",
            &report.communities,
            &report.totals,
            &formats,
        )?;
    }
    if report.place.level != PlaceLevel::Grid {
        rows_sheet(
            &mut book,
            "分网格",
            "网格",
            &report.grids,
            &report.totals,
            &formats,
        )?;
    }
    book.save_to_buffer()
}
