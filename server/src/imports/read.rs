//! Reading a roster file into a table of text cells: XLSX (the first worksheet, with
//! calamine) or CSV (UTF-8 with or without a byte-order mark, or GBK/GB 18030 as Excel in China
//! saves it). Pure: bytes in, rows out.

use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx};

/// The most a workbook may hold once unzipped, all its parts together: checked by unzipping it
/// (into nothing) before the workbook is opened, whatever sizes its directory claims, so a
/// small file that inflates to gigabytes (a zip bomb) is refused having cost one bounded pass.
pub const MAX_UNZIPPED_BYTES: u64 = 256 * 1024 * 1024;
/// The most rows a roster's sheet or CSV may use (17,000 households are some 45,000 rows).
pub const MAX_ROWS: usize = 200_000;
/// The most columns a row may use.
pub const MAX_COLUMNS: usize = 256;
/// The most cells a file may fill, empty ones between filled ones included.
pub const MAX_CELLS: usize = 4_000_000;

/// What kind of file the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An Office Open XML workbook (a ZIP archive).
    Xlsx,
    /// Comma-separated text.
    Csv,
}

impl FileKind {
    /// The kind named by a file name's extension or a content type (`text/csv`, the XLSX
    /// type), else by the bytes themselves (a ZIP archive is a workbook; text is CSV).
    pub fn detect(name_or_type: Option<&str>, bytes: &[u8]) -> Option<Self> {
        let hint = name_or_type.unwrap_or_default().to_ascii_lowercase();
        if hint.ends_with(".xlsx") || hint.contains("spreadsheetml") {
            return Some(Self::Xlsx);
        }
        if hint.ends_with(".csv") || hint.contains("text/csv") {
            return Some(Self::Csv);
        }
        if bytes.starts_with(b"PK\x03\x04") {
            return Some(Self::Xlsx);
        }
        // Text: no NUL byte in the first KiB.
        let head = &bytes[..bytes.len().min(1024)];
        (!bytes.is_empty() && !head.contains(&0)).then_some(Self::Csv)
    }
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a workbook nor comma-separated text.
    #[error("the file is neither an XLSX workbook nor a CSV file")]
    NotARoster,
    /// A workbook that does not open.
    #[error("the workbook could not be read: {0}")]
    BadWorkbook(String),
    /// A CSV file that does not parse.
    #[error("the CSV file could not be read: {0}")]
    BadCsv(String),
    /// Past one of the limits ([`MAX_UNZIPPED_BYTES`], [`MAX_ROWS`], [`MAX_COLUMNS`],
    /// [`MAX_CELLS`]).
    #[error("the file is too large for a roster: {0}")]
    TooLarge(String),
}

/// Counts the cells a table takes as it grows, refusing past the limits.
struct Budget {
    cells: usize,
}

impl Budget {
    /// Makes room for cell (`row`, `col`) in `rows`.
    fn place(
        &mut self,
        rows: &mut Vec<Vec<String>>,
        row: usize,
        col: usize,
    ) -> Result<(), ReadError> {
        if row >= MAX_ROWS {
            return Err(ReadError::TooLarge(format!("more than {MAX_ROWS} rows")));
        }
        if col >= MAX_COLUMNS {
            return Err(ReadError::TooLarge(format!(
                "more than {MAX_COLUMNS} columns"
            )));
        }
        if rows.len() <= row {
            rows.resize_with(row + 1, Vec::new);
        }
        let cells = &mut rows[row];
        if cells.len() <= col {
            self.cells += col + 1 - cells.len();
            if self.cells > MAX_CELLS {
                return Err(ReadError::TooLarge(format!("more than {MAX_CELLS} cells")));
            }
            cells.resize_with(col + 1, String::new);
        }
        Ok(())
    }
}

/// Unzips every part of the workbook into nothing, refusing it once more than
/// [`MAX_UNZIPPED_BYTES`] came out.
fn check_unzipped_size(bytes: &[u8]) -> Result<(), ReadError> {
    let bad = |e: &dyn std::fmt::Display| ReadError::BadWorkbook(e.to_string());
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(&e))?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let part = archive.by_index(i).map_err(|e| bad(&e))?;
        let left = MAX_UNZIPPED_BYTES - total;
        let out =
            std::io::copy(&mut part.take(left + 1), &mut std::io::sink()).map_err(|e| bad(&e))?;
        total += out;
        if total > MAX_UNZIPPED_BYTES {
            return Err(ReadError::TooLarge(format!(
                "the workbook unzips to more than {} MiB",
                MAX_UNZIPPED_BYTES / (1024 * 1024)
            )));
        }
    }
    Ok(())
}

/// The cells of a file's first sheet, every cell as trimmed text, empty rows kept (so row
/// numbers stay those of the file).
pub fn read_table(kind: FileKind, bytes: &[u8]) -> Result<Vec<Vec<String>>, ReadError> {
    match kind {
        FileKind::Xlsx => read_xlsx(bytes),
        FileKind::Csv => read_csv(bytes),
    }
}

fn read_xlsx(bytes: &[u8]) -> Result<Vec<Vec<String>>, ReadError> {
    check_unzipped_size(bytes)?;
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| ReadError::BadWorkbook(e.to_string()))?;
    let name = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| ReadError::BadWorkbook("the workbook has no worksheet".into()))?;
    // Cell by cell, in the sheet's own row numbers (rows above the first are empty rows):
    // never a dense range sized by whatever the sheet claims its dimensions are.
    let mut reader = book
        .worksheet_cells_reader(&name)
        .map_err(|e| ReadError::BadWorkbook(e.to_string()))?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut budget = Budget { cells: 0 };
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| ReadError::BadWorkbook(e.to_string()))?
    {
        let (r, c) = cell.get_position();
        let (r, c) = (r as usize, c as usize);
        budget.place(&mut rows, r, c)?;
        rows[r][c] = cell_text(&Data::from(cell.get_value().clone()));
    }
    Ok(rows)
}

/// A workbook cell as text: numbers without a trailing `.0` (a phone typed as a number), dates
/// as `YYYY-MM-DD`.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => d
            .as_datetime()
            .map(|t| t.date().format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        Data::DateTimeIso(s) => s.chars().take(10).collect(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(_) => String::new(),
    }
}

fn read_csv(bytes: &[u8]) -> Result<Vec<Vec<String>>, ReadError> {
    let text = decode_text(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut budget = Budget { cells: 0 };
    for record in reader.records() {
        let record = record.map_err(|e| ReadError::BadCsv(e.to_string()))?;
        let r = rows.len();
        budget.place(&mut rows, r, record.len().saturating_sub(1))?;
        for (c, cell) in record.iter().enumerate() {
            rows[r][c] = unquote(cell.trim());
        }
    }
    Ok(rows)
}

/// A cell our own CSV exports wrote with a leading `'` so a spreadsheet never runs it
/// ([`crate::exports::csv_text`]) reads as the text it stands for.
fn unquote(cell: &str) -> String {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest.to_owned(),
        _ => cell.to_owned(),
    }
}

/// The text of a CSV file: UTF-8 (a byte-order mark dropped), else GB 18030 (a superset of GBK,
/// what Excel in China writes).
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            let (text, _, _) = encoding_rs::GB18030.decode(bytes);
            text.into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_and_bom_csv_read_as_the_same_text() {
        let text = "姓名,身份证号\n张三,1\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let a = read_table(FileKind::Csv, &gbk).unwrap();
        let b = read_table(FileKind::Csv, &bom).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0], ["姓名", "身份证号"]);
    }

    /// A workbook that inflates past the limit (a zip bomb: 300 MiB of zeros in a small
    /// file) is refused before it is opened; a sheet claiming a cell at the last row and
    /// column Excel allows is refused without a dense range being made; a CSV with too many
    /// columns is refused.
    #[test]
    fn oversized_files_are_refused_before_the_work() {
        use std::io::Write;
        let mut zipped = Vec::new();
        {
            let mut w = zip::ZipWriter::new(Cursor::new(&mut zipped));
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file("xl/worksheets/sheet1.xml", options).unwrap();
            let zeros = vec![0u8; 1024 * 1024];
            for _ in 0..300 {
                w.write_all(&zeros).unwrap();
            }
            w.finish().unwrap();
        }
        assert!(zipped.len() < 2 * 1024 * 1024, "{} bytes", zipped.len());
        let err = read_table(FileKind::Xlsx, &zipped).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge(_)), "{err}");

        let mut rows = Vec::new();
        let mut budget = Budget { cells: 0 };
        assert!(budget.place(&mut rows, 1_048_575, 0).is_err());
        assert!(budget.place(&mut rows, 0, 16_383).is_err());
        assert!(rows.is_empty(), "nothing allocated for a refused cell");

        let wide = format!("姓名{}\n", ",".repeat(MAX_COLUMNS + 1));
        let err = read_table(FileKind::Csv, wide.as_bytes()).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge(_)), "{err}");
    }

    #[test]
    fn kinds_are_told_apart() {
        assert_eq!(FileKind::detect(Some("a.XLSX"), b""), Some(FileKind::Xlsx));
        assert_eq!(
            FileKind::detect(None, b"PK\x03\x04..."),
            Some(FileKind::Xlsx)
        );
        assert_eq!(
            FileKind::detect(None, "姓名,a".as_bytes()),
            Some(FileKind::Csv)
        );
        assert_eq!(FileKind::detect(None, b"\x00\x01\x02"), None);
    }
}
