//! Reading a roster file into a table of text cells: XLSX (the first worksheet, with
//! calamine) or CSV (UTF-8 with or without a byte-order mark, or GBK/GB 18030 as Excel in China
//! saves it). Pure: bytes in, rows out.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

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
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| ReadError::BadWorkbook(e.to_string()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| ReadError::BadWorkbook("the workbook has no worksheet".into()))?
        .map_err(|e| ReadError::BadWorkbook(e.to_string()))?;
    // Row numbers are the sheet's: rows above the used range are empty rows.
    let first_row = range.start().map_or(0, |(r, _)| r as usize);
    let first_col = range.start().map_or(0, |(_, c)| c as usize);
    let mut rows = vec![Vec::new(); first_row];
    for row in range.rows() {
        let mut cells = vec![String::new(); first_col];
        cells.extend(row.iter().map(cell_text));
        rows.push(cells);
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
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| ReadError::BadCsv(e.to_string()))?;
        rows.push(record.iter().map(|c| unquote(c.trim())).collect());
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
