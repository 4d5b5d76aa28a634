//! Custom window aggregates from the Rust API: a user [`Aggregate`] behind the operator's
//! [`Agg`] interface, the factory that gives each worker its own clone, and [`Reduce`] (Flink's
//! `ReduceFunction` as an [`Aggregate`]).

use std::sync::Arc;

use super::agg::{Agg, Aggregate, Fields};
use crate::ops::Record;

/// Makes the per-worker window operator for a custom aggregate (erases its type).
pub(crate) trait CustomFactory: Send + Sync {
    fn make(&self, cx: super::operator::Setup) -> Box<dyn super::operator::DynWindow>;
}

pub(crate) struct CustomProto<A>(pub(crate) A);

impl<A: Aggregate> CustomFactory for CustomProto<A> {
    fn make(&self, cx: super::operator::Setup) -> Box<dyn super::operator::DynWindow> {
        Box::new(super::operator::WindowOp::new(User(self.0.clone()), cx))
    }
}

/// A user [`Aggregate`] as an [`Agg`].
pub(crate) struct User<A>(pub(crate) A);

impl<A: Aggregate> Agg for User<A> {
    type Acc = A::Acc;
    fn prepare(&mut self, _r: &mut Record) -> Result<(), String> {
        Ok(())
    }
    fn create(&mut self) -> A::Acc {
        self.0.create()
    }
    fn add(&mut self, acc: &mut A::Acc, r: &Record, _order: (i64, u64)) -> Result<(), String> {
        self.0.add(acc, r)
    }
    fn merge(&mut self, acc: &mut A::Acc, other: A::Acc) {
        self.0.merge(acc, other);
    }
    fn write(&mut self, acc: &A::Acc, out: &mut Fields<'_>) {
        self.0.result(acc, out);
    }
}

/// Flink's `ReduceFunction` as an [`Aggregate`]: each event becomes a value (`lift`), values
/// combine pairwise (`combine`), and the result is written under `name`.
pub struct Reduce<T, L, C> {
    name: Arc<str>,
    lift: L,
    combine: C,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, L: Clone, C: Clone> Clone for Reduce<T, L, C> {
    fn clone(&self) -> Self {
        Reduce {
            name: self.name.clone(),
            lift: self.lift.clone(),
            combine: self.combine.clone(),
            _t: std::marker::PhantomData,
        }
    }
}

impl<T, L, C> Reduce<T, L, C> {
    /// A reduce writing its result under `name`.
    pub fn new(name: &str, lift: L, combine: C) -> Reduce<T, L, C> {
        Reduce { name: name.into(), lift, combine, _t: std::marker::PhantomData }
    }
}

impl<T, L, C> Aggregate for Reduce<T, L, C>
where
    T: serde::Serialize + 'static,
    L: FnMut(&Record) -> Result<T, String> + Clone + Send + Sync + 'static,
    C: FnMut(T, T) -> T + Clone + Send + Sync + 'static,
{
    type Acc = Option<T>;
    fn create(&mut self) -> Option<T> {
        None
    }
    fn add(&mut self, acc: &mut Option<T>, record: &Record) -> Result<(), String> {
        let v = (self.lift)(record)?;
        *acc = Some(match acc.take() {
            Some(a) => (self.combine)(a, v),
            None => v,
        });
        Ok(())
    }
    fn merge(&mut self, acc: &mut Option<T>, other: Option<T>) {
        *acc = match (acc.take(), other) {
            (Some(a), Some(b)) => Some((self.combine)(a, b)),
            (a, b) => a.or(b),
        };
    }
    fn result(&mut self, acc: &Option<T>, out: &mut Fields<'_>) {
        out.value(&self.name, acc);
    }
}
