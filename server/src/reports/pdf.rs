//! The monthly report as a PDF (A4): the title, the period, the summary paragraph and every
//! figure of the place on the first page (时点数 apart from 本月数), then the communities or
//! grids in a landscape table of the main figures, as many pages as they need.
//!
//! Set with [krilla] (text shaping and font subsetting: only the glyphs used are embedded) in
//! a Chinese font found on the machine ([`ReportFont::find`]); glyph widths for wrapping and
//! right-aligning come from the font itself (skrifa).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use skrifa::prelude::{LocationRef, Size};
use skrifa::raw::FileRef;
use skrifa::string::StringId;
use skrifa::{FontRef, MetadataProvider};
use sync_core::figures::ReportFigure;

use super::{FigureValue, MonthlyReport, PlaceLevel, ReportRow};
use crate::config::DEFAULT_REPORT_FONTS;

/// A Chinese font: the file's bytes, the face used, and krilla's handle on it.
pub struct ReportFont {
    data: Arc<Vec<u8>>,
    index: u32,
    font: Font,
    /// Where it was read from.
    pub path: PathBuf,
}

impl std::fmt::Debug for ReportFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportFont")
            .field("path", &self.path)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Why no PDF can be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PdfError {
    /// No font with Chinese glyphs.
    #[error("{0}")]
    NoFont(String),
    /// krilla refused the document.
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

/// A character every face used must have: 网 (grid).
const PROBE: char = '网';

impl ReportFont {
    /// Reads the font at `path`: its face for Simplified Chinese (a family name ending in
    /// `SC`, `CN` or `GB` first), else its first face with Chinese glyphs.
    pub fn read(path: &Path) -> Result<Self, PdfError> {
        let data = std::fs::read(path)
            .map_err(|e| PdfError::NoFont(format!("cannot read {}: {e}", path.display())))?;
        let file = FileRef::new(&data)
            .map_err(|e| PdfError::NoFont(format!("{} is not a font file: {e}", path.display())))?;
        let mut chosen: Option<(u32, bool)> = None;
        for (i, face) in file.fonts().enumerate() {
            let Ok(face) = face else { continue };
            if face.charmap().map(PROBE).is_none() {
                continue;
            }
            let simplified = face
                .localized_strings(StringId::FAMILY_NAME)
                .english_or_first()
                .map(|name| {
                    let name = name.to_string();
                    ["SC", "CN", "GB"].iter().any(|s| name.ends_with(s)) || name.contains("Hei")
                })
                .unwrap_or(false);
            let i = u32::try_from(i).unwrap_or(0);
            if chosen.is_none_or(|(_, s)| simplified && !s) {
                chosen = Some((i, simplified));
            }
        }
        let Some((index, _)) = chosen else {
            return Err(PdfError::NoFont(format!(
                "{} has no Chinese glyphs",
                path.display()
            )));
        };
        let data = Arc::new(data);
        let font = Font::new(krilla::Data::from(data.clone()), index)
            .ok_or_else(|| PdfError::NoFont(format!("{} cannot be used", path.display())))?;
        Ok(Self {
            data,
            index,
            font,
            path: path.to_owned(),
        })
    }

    /// The configured font, or the first of [`DEFAULT_REPORT_FONTS`] that exists; read once
    /// per process and kept (a CJK collection is some 20 MB, read only when a PDF is asked
    /// for).
    pub fn find(configured: Option<&Path>) -> Result<Arc<Self>, PdfError> {
        static FONT: OnceLock<Result<Arc<ReportFont>, PdfError>> = OnceLock::new();
        FONT.get_or_init(|| {
            if let Some(path) = configured {
                return Self::read(path).map(Arc::new);
            }
            let found = DEFAULT_REPORT_FONTS
                .iter()
                .map(Path::new)
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    PdfError::NoFont(
                        "no Chinese font found for the PDF: install fonts-noto-cjk or set \
                         GRIDBOOK_REPORT_FONT to a .ttf/.otf/.ttc file"
                            .to_owned(),
                    )
                })?;
            Self::read(found).map(Arc::new)
        })
        .clone()
    }

    /// The width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        let Ok(face) = FontRef::from_index(&self.data, self.index) else {
            return text.chars().count() as f32 * size;
        };
        let charmap = face.charmap();
        let metrics = face.glyph_metrics(Size::new(size), LocationRef::default());
        text.chars()
            .map(|c| {
                charmap
                    .map(c)
                    .and_then(|g| metrics.advance_width(g))
                    .unwrap_or(size)
            })
            .sum()
    }

    /// `text` broken into lines no wider than `max` (Chinese breaks anywhere; a run of ASCII
    /// letters and digits stays whole when it can).
    fn wrap(&self, text: &str, size: f32, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        let mut tokens: Vec<String> = Vec::new();
        for c in text.chars() {
            let joins = c.is_ascii_alphanumeric() || matches!(c, '.' | ',' | '%');
            match tokens.last_mut() {
                Some(last)
                    if joins
                        && last
                            .chars()
                            .last()
                            .is_some_and(|p| p.is_ascii_alphanumeric()) =>
                {
                    last.push(c);
                }
                // Closing punctuation never starts a line, opening punctuation never ends one.
                Some(last) if "，。；：、）”！？%".contains(c) => last.push(c),
                Some(last) if last.ends_with(['（', '“']) => last.push(c),
                _ => tokens.push(c.to_string()),
            }
        }
        for token in tokens {
            let candidate = format!("{line}{token}");
            if !line.is_empty() && self.width(&candidate, size) > max {
                lines.push(std::mem::take(&mut line));
                line = token;
            } else {
                line = candidate;
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }
}

const A4: (f32, f32) = (595.28, 841.89);
const MARGIN: f32 = 50.0;
const INK: (u8, u8, u8) = (33, 37, 41);
const GREY: (u8, u8, u8) = (108, 117, 125);
const RULE: (u8, u8, u8) = (173, 181, 189);
const SHADE: (u8, u8, u8) = (233, 236, 239);

/// Draws on one page with the report's font.
struct Pen<'a, 'b> {
    surface: Surface<'a>,
    font: &'b ReportFont,
}

impl Pen<'_, '_> {
    fn text(&mut self, x: f32, y: f32, size: f32, text: &str, color: (u8, u8, u8)) {
        self.surface.set_fill(Some(Fill {
            paint: rgb::Color::new(color.0, color.1, color.2).into(),
            ..Fill::default()
        }));
        self.surface.draw_text(
            Point::from_xy(x, y),
            self.font.font.clone(),
            size,
            text,
            false,
            TextDirection::LeftToRight,
        );
    }

    fn text_right(&mut self, right: f32, y: f32, size: f32, text: &str) {
        let w = self.font.width(text, size);
        self.text(right - w, y, size, text, INK);
    }

    fn text_centered(&mut self, center: f32, y: f32, size: f32, text: &str, color: (u8, u8, u8)) {
        let w = self.font.width(text, size);
        self.text(center - w / 2.0, y, size, text, color);
    }

    fn line(&mut self, x0: f32, y0: f32, x1: f32, y1: f32) {
        let mut b = PathBuilder::new();
        b.move_to(x0, y0);
        b.line_to(x1, y1);
        if let Some(path) = b.finish() {
            self.surface.set_fill(None);
            self.surface.set_stroke(Some(Stroke {
                paint: rgb::Color::new(RULE.0, RULE.1, RULE.2).into(),
                width: 0.5,
                ..Stroke::default()
            }));
            self.surface.draw_path(&path);
            self.surface.set_stroke(None);
        }
    }

    fn shade(&mut self, x: f32, y: f32, w: f32, h: f32) {
        let mut b = PathBuilder::new();
        if let Some(rect) = Rect::from_xywh(x, y, w, h) {
            b.push_rect(rect);
        }
        if let Some(path) = b.finish() {
            self.surface.set_stroke(None);
            self.surface.set_fill(Some(Fill {
                paint: rgb::Color::new(SHADE.0, SHADE.1, SHADE.2).into(),
                ..Fill::default()
            }));
            self.surface.draw_path(&path);
        }
    }
}

/// The figures of the per-place table (the page is too narrow for all of them).
const TABLE_FIGURES: &[ReportFigure] = &[
    ReportFigure::Households,
    ReportFigure::Liaisons,
    ReportFigure::PartyMembersTotal,
    ReportFigure::ServiceHours,
    ReportFigure::ServiceActivities,
    ReportFigure::CulturalActivities,
    ReportFigure::DisputesMediated,
    ReportFigure::MediationSuccessRate,
    ReportFigure::HazardsFound,
    ReportFigure::HazardsRectified,
    ReportFigure::HazardsRectifiedWithPhoto,
    ReportFigure::AppealsResolved,
    ReportFigure::AppealsOnTimeRate,
    ReportFigure::Visits,
    ReportFigure::VisitCoverage,
    ReportFigure::AssetIncome,
];

/// The value of `figure` among a row's values.
fn value_of(values: &[(ReportFigure, FigureValue)], figure: ReportFigure) -> String {
    values
        .iter()
        .find(|(f, _)| *f == figure)
        .map(|(_, v)| v.text())
        .unwrap_or_default()
}

/// The report as a PDF.
pub fn document(report: &MonthlyReport, font: &ReportFont) -> Result<Vec<u8>, PdfError> {
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new()
            .title(report.title.clone())
            .language("zh-CN".to_owned())
            .creator("Gridbook".to_owned()),
    );
    first_page(&mut doc, report, font);
    let (rows, header) = match report.place.level {
        PlaceLevel::Street => (&report.communities, "社区"),
        PlaceLevel::Community => (&report.grids, "网格"),
        PlaceLevel::Grid => (&report.grids, ""),
    };
    let mut page_no = 1;
    if report.place.level != PlaceLevel::Grid {
        table_pages(&mut doc, report, rows, header, font, &mut page_no);
        if report.place.level == PlaceLevel::Street {
            table_pages(&mut doc, report, &report.grids, "网格", font, &mut page_no);
        }
    }
    doc.finish().map_err(|e| PdfError::Write(format!("{e:?}")))
}

/// An RFC 3339 instant as China's wall clock: `2026-12-07 04:19`.
fn china_time(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text).map_or_else(
        |_| text.to_owned(),
        |t| {
            t.with_timezone(&sync_core::time::china_offset())
                .format("%Y-%m-%d %H:%M")
                .to_string()
        },
    )
}

/// The period in words: `2026年11月1日至11月30日`.
fn period_words(report: &MonthlyReport) -> String {
    let day = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| {
                sync_core::time::Timestamp::from_millis(t.timestamp_millis())
                    .china_date()
                    .0
            })
            .ok()
    };
    match (day(&report.period.from), day(&report.period.to)) {
        (Some(a), Some(b)) => {
            use chrono::Datelike;
            format!(
                "统计期间：{}年{}月{}日至{}月{}日{}",
                a.year(),
                a.month(),
                a.day(),
                b.month(),
                b.day(),
                if report.complete {
                    ""
                } else {
                    "（本月尚未结束）"
                }
            )
        }
        _ => String::new(),
    }
}

fn first_page(doc: &mut Document, report: &MonthlyReport, font: &ReportFont) {
    let (w, h) = A4;
    let Some(settings) = PageSettings::from_wh(w, h) else {
        return;
    };
    let mut page = doc.start_page_with(settings);
    let mut pen = Pen {
        surface: page.surface(),
        font,
    };
    let width = w - 2.0 * MARGIN;
    let mut y = MARGIN + 22.0;
    for line in font.wrap(&report.title, 18.0, width) {
        pen.text_centered(w / 2.0, y, 18.0, &line, INK);
        y += 26.0;
    }
    pen.text_centered(w / 2.0, y, 10.0, &period_words(report), GREY);
    y += 28.0;
    pen.text(MARGIN, y, 12.0, "一、总体情况", INK);
    y += 20.0;
    for line in font.wrap(&format!("　　{}", report.summary), 11.0, width) {
        pen.text(MARGIN, y, 11.0, &line, INK);
        y += 18.0;
    }
    y += 10.0;
    pen.text(MARGIN, y, 12.0, "二、主要指标", INK);
    y += 10.0;
    let values = report.totals.values();
    let row_h = 17.0;
    // Two columns side by side: 时点数 on the left, 本月数 on the right.
    let col_w = (width - 20.0) / 2.0;
    let start = y;
    for (c, (heading, snapshot)) in [("时点数", true), ("本月数", false)].iter().enumerate() {
        let x = MARGIN + c as f32 * (col_w + 20.0);
        let mut y = start;
        pen.shade(x, y, col_w, row_h);
        pen.text(x + 4.0, y + 12.5, 10.0, heading, INK);
        pen.text_right(x + col_w - 4.0, y + 12.5, 10.0, "数值");
        y += row_h;
        for (f, v) in values.iter().filter(|(f, _)| f.is_snapshot() == *snapshot) {
            pen.text(x + 4.0, y + 12.5, 10.0, f.label_zh(), INK);
            pen.text_right(x + col_w - 4.0, y + 12.5, 10.0, &v.text());
            y += row_h;
            pen.line(x, y, x + col_w, y);
        }
    }
    let rows_right = values.iter().filter(|(f, _)| !f.is_snapshot()).count();
    y = start + (rows_right as f32 + 1.0) * row_h + 18.0;
    for line in font.wrap(
        "注：在册户数、联户长、联户覆盖户数、超期案件为制表时数，双报到党员（累计）截至月末，其余为本月发生数；均由系统根据台账记录自动统计。",
        8.5,
        width,
    ) {
        pen.text(MARGIN, y, 8.5, &line, GREY);
        y += 13.0;
    }
    pen.text(
        MARGIN,
        h - MARGIN + 20.0,
        8.0,
        &format!("制表：网格通 Gridbook　{}", china_time(&report.as_of)),
        GREY,
    );
    drop(pen);
    page.finish();
}

/// The rows in a landscape table, as many pages as needed.
fn table_pages(
    doc: &mut Document,
    report: &MonthlyReport,
    rows: &[ReportRow],
    header: &str,
    font: &ReportFont,
    page_no: &mut usize,
) {
    let (w, h) = (A4.1, A4.0);
    let width = w - 2.0 * MARGIN;
    let name_w = 84.0;
    let col_w = (width - name_w) / TABLE_FIGURES.len() as f32;
    let row_h = 16.0;
    let header_lines: Vec<Vec<String>> = TABLE_FIGURES
        .iter()
        .map(|f| font.wrap(f.label_zh(), 8.0, col_w - 4.0))
        .collect();
    let header_h = header_lines.iter().map(Vec::len).max().unwrap_or(1) as f32 * 10.0 + 6.0;
    let per_page = ((h - 2.0 * MARGIN - 40.0 - header_h) / row_h)
        .floor()
        .max(1.0) as usize;
    let total_values = report.totals.values();
    let chunks: Vec<&[ReportRow]> = rows.chunks(per_page).collect();
    for (p, chunk) in chunks.iter().enumerate() {
        let Some(settings) = PageSettings::from_wh(w, h) else {
            return;
        };
        *page_no += 1;
        let mut page = doc.start_page_with(settings);
        let mut pen = Pen {
            surface: page.surface(),
            font,
        };
        let mut y = MARGIN + 10.0;
        pen.text(
            MARGIN,
            y,
            12.0,
            &format!("{}：分{header}主要指标", report.title),
            INK,
        );
        y += 14.0;
        pen.shade(MARGIN, y, width, header_h);
        pen.text(MARGIN + 4.0, y + header_h / 2.0 + 3.0, 8.0, header, INK);
        for (i, lines) in header_lines.iter().enumerate() {
            let center = MARGIN + name_w + (i as f32 + 0.5) * col_w;
            for (k, line) in lines.iter().enumerate() {
                pen.text_centered(center, y + 11.0 + k as f32 * 10.0, 8.0, line, INK);
            }
        }
        y += header_h;
        let last = p + 1 == chunks.len();
        let draw_row =
            |pen: &mut Pen<'_, '_>, y: f32, name: &str, values: &[(ReportFigure, FigureValue)]| {
                pen.text(MARGIN + 4.0, y + 11.5, 8.5, name, INK);
                for (i, f) in TABLE_FIGURES.iter().enumerate() {
                    let right = MARGIN + name_w + (i as f32 + 1.0) * col_w - 4.0;
                    pen.text_right(right, y + 11.5, 8.5, &value_of(values, *f));
                }
                pen.line(MARGIN, y + row_h, MARGIN + width, y + row_h);
            };
        for row in *chunk {
            draw_row(&mut pen, y, &row.name, &row.figures.values());
            y += row_h;
        }
        if last {
            pen.shade(MARGIN, y, width, row_h);
            draw_row(&mut pen, y, "合计", &total_values);
        }
        pen.text(
            MARGIN,
            h - MARGIN + 20.0,
            8.0,
            &format!("第{page_no}页"),
            GREY,
        );
        drop(pen);
        page.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a Chinese font on the machine (CI installs fonts-noto-cjk): headers wrap without
    /// leaving an opening bracket at a line's end or a closing one at a line's start, and a
    /// whole PDF comes out. Without one, the error says what to install.
    #[test]
    fn text_wraps_at_allowed_breaks_and_a_pdf_is_written() {
        let font = match ReportFont::find(None) {
            Ok(font) => font,
            Err(e) => {
                assert!(e.to_string().contains("fonts-noto-cjk"), "{e}");
                return;
            }
        };
        let size = 8.0;
        let max = font.width("排查安全隐", size);
        let lines = font.wrap("排查安全隐患（处）", size, max);
        assert!(lines.len() > 1, "{lines:?}");
        for line in &lines {
            assert!(font.width(line, size) <= max * 1.5, "{line} is too wide");
            assert!(
                !line.ends_with('（') && !line.starts_with('）'),
                "{lines:?}"
            );
        }
        assert_eq!(lines.concat(), "排查安全隐患（处）");
        // A run of digits stays whole.
        let numbers = font.wrap("走访入户12345次", size, font.width("走访入户123", size));
        assert!(numbers.iter().any(|l| l.contains("12345")), "{numbers:?}");
        assert!(font.width("网格", 10.0) > font.width("12", 10.0));
    }
}
