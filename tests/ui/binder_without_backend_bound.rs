// Review 4, finding 5: generic code that names `Binder` or `RowReader`
// without bounding its backend parameter must be told to write
// `B: txmanager::Backend`, not the private trait behind it.
use txmanager::{Binder, FromSqlValue, RowReader, SqlValue, ValueError};

fn bind_generic<B>(values: &mut Binder<'_, '_, B>) -> Result<(), ValueError>
where
    i64: SqlValue<B>,
{
    values.bind(&1_i64)
}

fn read_generic<B>(row: &mut RowReader<'_, '_, B>) -> Result<i64, ValueError>
where
    i64: FromSqlValue<B>,
{
    row.read()
}

fn main() {}
