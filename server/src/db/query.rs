//! The SQL toolkit of list queries, shared by every list (the query indexes, the conflict
//! inbox, the audit log) and their exports: a [`Filter`] of fixed SQL fragments and bound
//! parameters, a [`Page`], and `list_query!`, which runs a filtered, ordered page and its count
//! on either backend.

/// A bound parameter of a list query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
}

/// The `WHERE` clause of a list query, built from fixed SQL fragments (column names chosen by
/// the code, never by the caller) and bound parameters (`$1`, `$2`, ... on both backends).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    clauses: Vec<String>,
    pub(crate) args: Vec<Arg>,
}

impl Filter {
    /// Adds a parameter; returns its placeholder.
    pub fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// Adds a clause (a fixed SQL fragment, with placeholders from [`Filter::arg`]).
    pub fn clause(&mut self, sql: impl Into<String>) {
        self.clauses.push(sql.into());
    }

    /// `column = value`.
    pub fn eq(&mut self, column: &'static str, value: &str) {
        let p = self.arg(Arg::Text(value.to_owned()));
        self.clause(format!("{column} = {p}"));
    }

    /// `column IN (values)`; no values matches nothing.
    pub fn within(&mut self, column: &'static str, values: &[String]) {
        if values.is_empty() {
            self.clause("1 = 0");
            return;
        }
        let ps: Vec<String> = values
            .iter()
            .map(|v| self.arg(Arg::Text(v.clone())))
            .collect();
        self.clause(format!("{column} IN ({})", ps.join(", ")));
    }

    /// The rows of `among` ([`Among::place`]).
    pub fn in_place(&mut self, among: Among<'_>) {
        let first = self.args.len() + 1;
        self.clause(among.place("", first));
        for arg in among.args() {
            self.args.push(Arg::Text(arg.to_owned()));
        }
    }

    /// `column LIKE '%text%'`, with `%`, `_` and `\` in `text` matched literally.
    pub fn contains(&mut self, column: &'static str, text: &str) {
        let p = self.arg(Arg::Text(format!("%{}%", like_escape(text))));
        self.clause(format!("{column} LIKE {p} ESCAPE '\\'"));
    }

    /// `column op value` for an integer column (`op` is fixed by the caller's code).
    pub fn compare(&mut self, column: &'static str, op: &'static str, value: i64) {
        let p = self.arg(Arg::Int(value));
        self.clause(format!("{column} {op} {p}"));
    }

    /// ` WHERE ...` (with a leading space), or nothing without clauses.
    pub(crate) fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// The grids a list or a figure reads, all in `street` when it is named (every scope but an
/// administrator's lies in one street). Naming the street lets a query read through the
/// indexes led by it, so that reading one street's rows does not grow with the other streets
/// stored; when the grids are the whole street, the street alone selects the rows.
#[derive(Debug, Clone, Copy)]
pub struct Among<'a> {
    /// The street of the grids.
    pub street: Option<&'a str>,
    /// The grids (ids).
    pub grids: &'a [String],
    /// `grids` are every grid of `street` (a street supervisor's whole scope).
    pub whole_street: bool,
}

impl Among<'_> {
    /// The condition on `{alias}street_id` / `{alias}grid_id`, its placeholders numbered from
    /// `$first` in the order of [`Among::args`]: `street_id = $first` for a whole street,
    /// else `grid_id IN (...)`, with `AND street_id = $n` after the grids when the street is
    /// named. No grids match nothing.
    pub fn place(&self, alias: &str, first: usize) -> String {
        match (self.street, self.whole_street) {
            (Some(_), true) => format!("{alias}street_id = ${first}"),
            _ if self.grids.is_empty() => "1 = 0".to_owned(),
            (street, _) => {
                let n = self.grids.len();
                let grids = (first..first + n)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                match street {
                    Some(_) => format!(
                        "{alias}grid_id IN ({grids}) AND {alias}street_id = ${}",
                        first + n
                    ),
                    None => format!("{alias}grid_id IN ({grids})"),
                }
            }
        }
    }

    /// The values of [`Among::place`]'s placeholders, in order.
    pub fn args(&self) -> Vec<&str> {
        match (self.street, self.whole_street) {
            (Some(street), true) => vec![street],
            _ if self.grids.is_empty() => Vec::new(),
            (street, _) => self
                .grids
                .iter()
                .map(String::as_str)
                .chain(street)
                .collect(),
        }
    }
}

/// Escapes LIKE's wildcards and the escape character itself.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One page: `ORDER BY` (a fixed fragment), limit and offset.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// A fixed `ORDER BY` list.
    pub order_by: &'static str,
    /// Rows per page.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// Runs `SELECT {columns} FROM {table} {filter} ORDER BY .. LIMIT .. OFFSET ..` and the count,
/// decoding each row with `decode`.
macro_rules! list_query {
    ($db:expr, $table:literal, $columns:expr, $filter:expr, $page:expr, $row:ident => $decode:expr) => {{
        let filter: &Filter = $filter;
        let page: Page = $page;
        let where_sql = filter.where_sql();
        let count_sql = format!("SELECT COUNT(*) FROM {}{}", $table, where_sql);
        let n = filter.args.len();
        let list_sql = format!(
            "SELECT {} FROM {}{} ORDER BY {} LIMIT ${} OFFSET ${}",
            $columns,
            $table,
            where_sql,
            page.order_by,
            n + 1,
            n + 2
        );
        on_db!($db, pool => {
            let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
            for a in &filter.args {
                count = match a {
                    Arg::Text(s) => count.bind(s.clone()),
                    Arg::Int(i) => count.bind(*i),
                };
            }
            let total = count.fetch_one(pool).await?;
            let mut list = sqlx::query(sqlx::AssertSqlSafe(list_sql));
            for a in &filter.args {
                list = match a {
                    Arg::Text(s) => list.bind(s.clone()),
                    Arg::Int(i) => list.bind(*i),
                };
            }
            let rows = list
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(pool)
                .await?;
            let items = rows
                .iter()
                .map(|$row| $decode)
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            Ok::<_, sqlx::Error>((items, total))
        })
    }};
}
pub(crate) use list_query;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_read_by_its_street_its_grids_or_both() {
        let grids = ["a-1".to_owned(), "a-2".to_owned()];
        let among = |street, whole_street| Among {
            street,
            grids: &grids,
            whole_street,
        };
        let whole = among(Some("st"), true);
        assert_eq!(whole.place("h.", 3), "h.street_id = $3");
        assert_eq!(whole.args(), ["st"]);
        let some = among(Some("st"), false);
        assert_eq!(some.place("", 1), "grid_id IN ($1, $2) AND street_id = $3");
        assert_eq!(some.args(), ["a-1", "a-2", "st"]);
        let anywhere = among(None, false);
        assert_eq!(anywhere.place("", 2), "grid_id IN ($2, $3)");
        assert_eq!(anywhere.args(), ["a-1", "a-2"]);
        let none = Among {
            street: Some("st"),
            grids: &[],
            whole_street: false,
        };
        assert_eq!(none.place("", 1), "1 = 0");
        assert!(none.args().is_empty());
        let mut f = Filter::default();
        f.eq("kind", "visit");
        f.in_place(some);
        assert_eq!(
            f.where_sql(),
            " WHERE kind = $1 AND grid_id IN ($2, $3) AND street_id = $4"
        );
        assert_eq!(f.args.len(), 4);
    }
}
