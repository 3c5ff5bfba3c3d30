//! What a record type's SQL must do, described without SQL: the table, its
//! key and columns, and how its version moves. `record.rs` fills it in from a
//! record type's description; each backend module turns it into SQL. This
//! module is a leaf, so backends know nothing of records or versioning. It
//! also holds what every backend's record SQL shares: [`RecordSql`] and
//! [`UpdateSql`] (the statements, whatever their dialect), [`update_sql`]
//! (the one builder of a type's `UPDATE`s, in a backend's [`Dialect`]),
//! [`BadName`] and the identifier rule.

/// One record type's table, as the SQL builders see it.
#[derive(Debug, Clone, Copy)]
pub struct TableShape {
    pub(crate) table: &'static str,
    pub(crate) primary_key: &'static str,
    /// The data columns, in the order values are bound.
    pub(crate) columns: &'static [&'static str],
    /// Columns the database fills in: selected, never written.
    pub(crate) read_only: &'static [&'static str],
    pub(crate) version: Option<VersionShape>,
}

/// The version column and the rule that moves it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VersionShape {
    pub(crate) column: &'static str,
    pub(crate) rule: VersionRule,
}

/// How a save moves the version; one per version kind.
#[derive(Debug, Clone, Copy)]
pub(crate) enum VersionRule {
    /// The application binds a new version: a clock with a +1 floor.
    Integer,
    /// The application binds the old version + 1.
    AutoIncrement,
    /// The version moves only when one of these columns changes.
    Conditional(&'static [&'static str]),
    /// The database moves it (a trigger); updates leave it alone.
    Trigger,
}

impl TableShape {
    #[inline]
    pub(crate) fn table(&self) -> &'static str {
        self.table
    }

    #[inline]
    pub(crate) fn primary_key(&self) -> &'static str {
        self.primary_key
    }

    #[inline]
    pub(crate) fn columns(&self) -> &'static [&'static str] {
        self.columns
    }

    #[inline]
    pub(crate) fn read_only_columns(&self) -> &'static [&'static str] {
        self.read_only
    }

    #[inline]
    pub(crate) fn version(&self) -> Option<VersionShape> {
        self.version
    }
}

impl VersionShape {
    #[inline]
    pub(crate) fn column_name(&self) -> &'static str {
        self.column
    }

    #[inline]
    pub(crate) fn kind(&self) -> VersionRule {
        self.rule
    }
}

/// Which data columns an `UPDATE` writes: every one (a save), or some of
/// them (`save_fields`), by their index in [`TableShape::columns`]. A
/// conditional version watches only the written columns it lists: a column
/// that is not written cannot change.
#[derive(Debug, Clone, Copy)]
pub enum ColumnSet<'a> {
    All,
    /// Indices into the data columns, each at most once.
    Only(&'a [usize]),
}

impl ColumnSet<'_> {
    #[inline]
    pub(crate) fn contains(&self, index: usize) -> bool {
        match self {
            ColumnSet::All => true,
            ColumnSet::Only(indices) => indices.contains(&index),
        }
    }
}

/// One record type's statements, as a backend module writes them from its
/// [`TableShape`], built once and kept for the life of the process. The
/// same fields on every backend; only the SQL text differs.
///
/// Parameter layout: the data columns are parameters `1..=n` in declaration
/// order; then the version value (`version_param`, if any), the key, and the
/// expected version (checked statements). Deletes and reads bind the key
/// first. Parameters are bound one after the other, in that order.
#[derive(Debug)]
pub struct RecordSql {
    pub(crate) get: String,
    pub(crate) all: String,
    /// `SELECT <columns> FROM <table>`, for `select_where`.
    pub(crate) select: String,
    /// The insert of a record without a key. Where the database cannot say
    /// which key it assigned afterwards, it ends in `RETURNING <key>`
    /// (PostgreSQL).
    pub(crate) insert: String,
    pub(crate) insert_with_pk: String,
    pub(crate) update_checked: String,
    pub(crate) update_unchecked: String,
    pub(crate) delete_checked: String,
    pub(crate) delete_unchecked: String,
    pub(crate) current_version: String,
    /// Where the version value is bound in updates: the new version
    /// (checked integer and auto-increment updates), or the increment or
    /// clock, 0 meaning "do not bump" (conditional, and unchecked updates);
    /// `None` for triggers, whose updates leave the version to the database.
    pub(crate) version_param: Option<usize>,
    /// Checked updates end in `RETURNING <version>` (trigger and conditional
    /// kinds). Unchecked updates of a versioned record always do.
    pub(crate) checked_update_returns_version: bool,
}

/// A name refused by an identifier check: cheap to clone, so a record
/// type's failed SQL build can be cached and reported on every use.
#[derive(Debug, Clone)]
pub struct BadName {
    pub(crate) what: &'static str,
    pub(crate) name: String,
    pub(crate) reason: &'static str,
}

impl From<BadName> for crate::Error {
    fn from(bad: BadName) -> Self {
        crate::Error::InvalidIdentifier {
            what: bad.what,
            name: bad.name,
            reason: bad.reason,
        }
    }
}

/// The rule every backend applies to a table, column or trigger name before
/// it goes into SQL: ASCII letters, digits and `_`, not starting with a
/// digit, at most `max_len` bytes. Backends add their own reserved names.
/// Names are quoted as well; this check is what turns an injection attempt
/// into a clear error before anything runs.
pub(crate) fn check_identifier(
    what: &'static str,
    name: &str,
    max_len: usize,
    too_long: &'static str,
) -> Result<(), BadName> {
    let refuse = |reason| {
        Err(BadName {
            what,
            name: name.to_owned(),
            reason,
        })
    };
    let Some(first) = name.chars().next() else {
        return refuse("it is empty");
    };
    if name.len() > max_len {
        return refuse(too_long);
    }
    if !(first.is_ascii_alphabetic() || first == '_') {
        return refuse("it must start with an ASCII letter or '_'");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return refuse("only ASCII letters, digits and '_' are allowed");
    }
    Ok(())
}

/// Checks every name of a record type's shape with `validate`, and that
/// each conditional version field is one of its columns.
pub(crate) fn check_shape(
    shape: &TableShape,
    validate: impl Fn(&'static str, &str) -> Result<(), BadName>,
) -> Result<(), BadName> {
    validate("table", shape.table())?;
    validate("primary key column", shape.primary_key())?;
    for column in shape.columns().iter().chain(shape.read_only_columns()) {
        validate("column", column)?;
    }
    if let Some(field) = shape.version() {
        validate("version column", field.column_name())?;
        if let VersionRule::Conditional(fields) = field.kind() {
            for name in fields {
                if !shape.columns().contains(name) {
                    return Err(BadName {
                        what: "conditional version field",
                        name: (*name).to_owned(),
                        reason: "it is not one of the record's columns",
                    });
                }
            }
        }
    }
    Ok(())
}

/// A record type's two `UPDATE`s, writing every data column or some of them
/// (see [`ColumnSet`]), as a backend module writes them. The parameters are
/// laid out as in [`RecordSql`] whatever is written, so one `bind_columns`
/// serves every subset.
#[derive(Debug)]
pub struct UpdateSql {
    /// `… WHERE pk = ? AND version = ?`; for a type without a version, the
    /// same text as `unchecked`.
    pub(crate) checked: String,
    pub(crate) unchecked: String,
    /// As [`RecordSql::version_param`].
    pub(crate) version_param: Option<usize>,
    /// As [`RecordSql::checked_update_returns_version`].
    pub(crate) checked_returns: bool,
}

/// The spellings in which backends' `UPDATE`s differ, so that
/// [`update_sql`] is written once. A backend module supplies its own.
pub(crate) struct Dialect {
    /// A table or column name as it goes into SQL.
    pub(crate) quote: fn(&str) -> String,
    /// Parameter `n` (1-based) bound to a data column or the key.
    pub(crate) param: fn(usize) -> String,
    /// Parameter `n` bound to a version (typed where the database must
    /// know its type).
    pub(crate) version_param: fn(usize) -> String,
    /// The assignment of a data column the `UPDATE` does not write, if the
    /// backend must still name its parameter `n` (or `None`: leave it out).
    pub(crate) unwritten: Option<fn(&str, usize) -> String>,
    /// The larger of two values: `max` or `GREATEST`.
    pub(crate) greatest: &'static str,
    /// "Differs, counting NULL as a value": `IS NOT` or `IS DISTINCT FROM`.
    pub(crate) differs: &'static str,
    /// A condition that never holds.
    pub(crate) never: &'static str,
    /// Appended to the version column where it is read back.
    pub(crate) read_version: &'static str,
}

/// Builds the `UPDATE`s of a record type that write the data columns in
/// `written`, in `dialect`. The parameters are laid out as in
/// [`RecordSql`] whatever is written: data column `i` is parameter `i+1`
/// (one `bind_columns` serves every subset), then the version, the key and
/// the expected version.
///
/// How each kind of update sets the version: a checked update of the
/// integer and auto-increment kinds binds the new version, computed by the
/// application from the version it checked (no read-back needed). An
/// unchecked update computes it from the row itself, so a forced write
/// still moves the version past every copy held in memory, and reads it
/// back with `RETURNING`. The bound parameter is the new version (checked),
/// or the increment / the clock, where 0 means "do not bump" (unchecked).
pub(crate) fn update_sql(
    dialect: &Dialect,
    shape: &TableShape,
    written: ColumnSet<'_>,
) -> UpdateSql {
    let Dialect {
        quote,
        param,
        version_param,
        ..
    } = *dialect;
    let table = quote(shape.table());
    let pk = quote(shape.primary_key());
    let n = shape.columns().len();
    let version = shape.version();
    let version_column = version.map(|v| quote(v.column_name()));
    let data_assignments: Vec<String> = shape
        .columns()
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let c = quote(c);
            if written.contains(i) {
                Some(format!("{c} = {}", param(i + 1)))
            } else {
                dialect.unwritten.map(|keep| keep(&c, i + 1))
            }
        })
        .collect();
    let p = n + 1;
    let vp = version_param(p);
    let (checked_set, unchecked_set, version_param_index, checked_returns) =
        match (version, &version_column) {
            (Some(field), Some(v)) => match field.kind() {
                VersionRule::Integer => (
                    Some(format!("{v} = {vp}")),
                    Some(format!(
                        "{v} = CASE WHEN {vp} = 0 THEN {v} ELSE {}({vp}, {v} + 1) END",
                        dialect.greatest
                    )),
                    Some(p),
                    false,
                ),
                VersionRule::AutoIncrement => (
                    Some(format!("{v} = {vp}")),
                    Some(format!("{v} = {v} + {vp}")),
                    Some(p),
                    false,
                ),
                VersionRule::Conditional(fields) => {
                    let changed: Vec<String> = fields
                        .iter()
                        .filter_map(|f| {
                            let i = shape.columns().iter().position(|c| c == f)?;
                            written.contains(i).then(|| {
                                format!("{} {} {}", quote(f), dialect.differs, param(i + 1))
                            })
                        })
                        .collect();
                    let changed = if changed.is_empty() {
                        dialect.never.to_owned()
                    } else {
                        changed.join(" OR ")
                    };
                    let set = format!("{v} = CASE WHEN {changed} THEN {v} + {vp} ELSE {v} END");
                    (Some(set.clone()), Some(set), Some(p), true)
                }
                // The trigger bumps the version; updates leave it alone.
                VersionRule::Trigger => (None, None, None, true),
            },
            _ => (None, None, None, false),
        };
    let pk_param = version_param_index.map_or(n + 1, |v| v + 1);
    let set = |version_set: Option<String>| {
        let mut assignments = data_assignments.clone();
        assignments.extend(version_set);
        if assignments.is_empty() {
            // A record with no data columns still needs a SET clause.
            format!("{pk} = {pk}")
        } else {
            assignments.join(", ")
        }
    };
    let returning = |wanted: bool| match (&version_column, wanted) {
        (Some(v), true) => format!(" RETURNING {v}{}", dialect.read_version),
        _ => String::new(),
    };
    let unchecked = format!(
        "UPDATE {table} SET {} WHERE {pk} = {}{}",
        set(unchecked_set),
        param(pk_param),
        returning(true)
    );
    let checked = match &version_column {
        Some(v) => format!(
            "UPDATE {table} SET {} WHERE {pk} = {} AND {v} = {}{}",
            set(checked_set),
            param(pk_param),
            version_param(pk_param + 1),
            returning(checked_returns)
        ),
        None => unchecked.clone(),
    };
    UpdateSql {
        checked,
        unchecked,
        version_param: version_param_index,
        checked_returns,
    }
}
