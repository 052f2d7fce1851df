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

    /// Rows of `grids` (all in `street` when it is given): `street_id = street AND grid_id IN
    /// (grids)`. Naming the street lets a list read through the indexes led by it, so that
    /// reading one street's rows does not grow with the other streets stored.
    pub fn in_place(&mut self, street: Option<&str>, grids: &[String]) {
        if let Some(street) = street {
            self.eq("street_id", street);
        }
        self.within("grid_id", grids);
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
