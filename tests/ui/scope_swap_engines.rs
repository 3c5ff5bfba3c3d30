// Review 4, finding 0: `Scope`'s sealing supertrait hands crate code the
// engine behind a scope. Method calls resolve through a bound's
// supertraits without any import, so if that trait were `pub` (even in a
// private module) this would compile, and swapping two managers' engines
// under a running block made the other manager's next block end `Ok` with
// its write never committed. The accessor must be private to the crate.
use txmanager::{Error, Scope, TransactionManager};

fn swap_engines<S1: Scope, S2: Scope>(a: &mut S1, b: &mut S2) {
    std::mem::swap(a.engine_mut(), b.engine_mut());
}

fn main() -> Result<(), Error> {
    let mut tm1 = TransactionManager::open_in_memory()?;
    let mut tm2 = TransactionManager::open_in_memory()?;
    tm1.commit_on_success(|tx| {
        swap_engines(tx, &mut tm2);
        Ok::<_, Error>(())
    })
}
