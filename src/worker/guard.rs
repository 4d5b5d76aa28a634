//! Operator failures: a panic in a pipeline's operator (a custom Rust operator, an aggregate)
//! is caught at the boundary of the pipeline's chain on its worker. That pipeline's state on
//! that worker is reset (a new chain; the old one's open windows go back to the budget), the
//! failure is counted (`operator_panics`) and logged, and the pipeline's next results carry a
//! loss mark, so its output topic tells envelope subscribers with a `gap`. Other pipelines,
//! other workers and the direct path are unaffected.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{Out, Worker};
use crate::ops::Chain;

impl Worker {
    /// Run `f` on pipeline `p`'s chain; on a panic, reset the chain and report the loss.
    pub(super) fn guarded(
        &self,
        chains: &mut [Chain],
        p: usize,
        out: &mut Out,
        f: impl FnOnce(&mut Chain, &mut Out),
    ) {
        let Some(chain) = chains.get_mut(p) else { return };
        let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(chain, out))) else { return };
        let name = self.pipelines[p].get_name();
        log::error!(
            "pipeline `{name}`: an operator failed on worker {} ({}); the pipeline's state on \
             this worker was reset",
            self.index,
            message(panic.as_ref())
        );
        let mut counts = chain.take_counts();
        counts.operator_panics += 1;
        *chain = Chain::new(&self.pipelines[p], &self.budgets[p]);
        let np = self.pipelines.len();
        self.counters[self.index * np + p].add(&counts);
        out.mark_lost(self.outputs[p].to);
    }
}

/// What a panic said, if it said it with a string.
fn message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "a panic without a message"
    }
}
