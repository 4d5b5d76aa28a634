//! jq expressions, compiled once with `jaq` and run per message.
//!
//! Contract: [`Expr::new`] parses and compiles an expression (with jq's standard library and
//! jaq's JSON functions) to check it, and keeps its text; the configuration loader calls it so a
//! bad expression is reported with its file, line and key before anything starts. Each worker
//! compiles its own copy once when it starts, never per message, and evaluates it on one parsed
//! value at a time; a runtime error (`.a` on a number, `error("x")`, …) is an [`EvalError`],
//! never a panic. Values are `jaq_json::Val` (reference counted, not `Send`):
//! they never leave the worker thread that made them.

use std::fmt;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
use jaq_json::Val;

type Data = data::JustLut<Val>;
type Filter = jaq_core::Filter<Data>;

/// A jq expression as written by the user, checked to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    source: String,
}

/// Why an expression does not compile. The message names the problem and where in the
/// expression it is; fix the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// The expression as given.
    pub source: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid jq expression `{}`: {}", self.source, self.message)
    }
}

impl std::error::Error for ExprError {}

/// A runtime error of an expression on one message (the message is dropped and counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError(pub String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Expr {
    /// Check that `source` compiles and keep it.
    pub fn new(source: &str) -> Result<Expr, ExprError> {
        Compiled::compile(source)?;
        Ok(Expr { source: source.to_string() })
    }

    /// The expression text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Compile for use on this thread (once per worker, at start).
    pub(crate) fn compile(&self) -> Compiled {
        Compiled::compile(&self.source).expect("checked by Expr::new")
    }
}

/// A compiled expression, owned by one worker.
pub(crate) struct Compiled {
    filter: Filter,
}

impl fmt::Debug for Compiled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Compiled(..)")
    }
}

impl Compiled {
    fn compile(source: &str) -> Result<Compiled, ExprError> {
        let fail = |message: String| ExprError { source: source.to_string(), message };
        let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
        let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader.load(&arena, File { code: source, path: () }).map_err(|errs| {
            let mut msgs = Vec::new();
            for (_, e) in errs {
                match e {
                    jaq_core::load::Error::Io(v) => {
                        msgs.extend(v.into_iter().map(|(_, m)| m));
                    }
                    jaq_core::load::Error::Lex(v) => msgs.extend(v.into_iter().map(|(exp, at)| {
                        format!("expected {} at {}", exp.as_str(), position(source, at))
                    })),
                    jaq_core::load::Error::Parse(v) => {
                        msgs.extend(v.into_iter().map(|(exp, at)| {
                            format!("expected {} at {}", exp.as_str(), position(source, at))
                        }))
                    }
                }
            }
            fail(msgs.join("; "))
        })?;
        let filter = Compiler::default().with_funs(funs).compile(modules).map_err(|errs| {
            let msgs: Vec<String> = errs
                .into_iter()
                .flat_map(|(_, v)| v)
                .map(|(name, undef)| format!("undefined {} `{name}`", undef.as_str()))
                .collect();
            fail(msgs.join("; "))
        })?;
        Ok(Compiled { filter })
    }

    /// Run on `input`; every output goes to `emit`. Stops at the first runtime error.
    pub(crate) fn run(&self, input: Val, mut emit: impl FnMut(Val)) -> Result<(), EvalError> {
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        for out in self.filter.id.run((ctx, input)).map(unwrap_valr) {
            match out {
                Ok(v) => emit(v),
                Err(e) => return Err(EvalError(e.to_string())),
            }
        }
        Ok(())
    }

    /// The first output, if any.
    pub(crate) fn first(&self, input: Val) -> Result<Option<Val>, EvalError> {
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        match self.filter.id.run((ctx, input)).map(unwrap_valr).next() {
            None => Ok(None),
            Some(Ok(v)) => Ok(Some(v)),
            Some(Err(e)) => Err(EvalError(e.to_string())),
        }
    }
}

/// "end of input" or "`tok` (byte N)" for a position inside `source`.
fn position(source: &str, at: &str) -> String {
    if at.is_empty() {
        return "end of input".into();
    }
    let start = at.as_ptr() as usize;
    let base = source.as_ptr() as usize;
    let token: String = at.chars().take(12).collect();
    if start >= base && start <= base + source.len() {
        format!("`{token}` (byte {})", start - base)
    } else {
        format!("`{token}`")
    }
}

/// Parse one JSON value (the whole payload; surrounding whitespace allowed).
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Val, String> {
    jaq_json::read::parse_single(bytes).map_err(|e| e.to_string())
}

/// Append the compact JSON text of `v` to `out`.
pub(crate) fn write_json(out: &mut Vec<u8>, v: &Val) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{v}");
}

/// jq truthiness: everything but `false` and `null` is true.
pub(crate) fn truthy(v: &Val) -> bool {
    !matches!(v, Val::Null | Val::Bool(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(expr: &str, input: &str) -> Result<Vec<String>, EvalError> {
        let c = Compiled::compile(expr).unwrap();
        let mut out = Vec::new();
        c.run(parse_json(input.as_bytes()).unwrap(), |v| {
            let mut b = Vec::new();
            write_json(&mut b, &v);
            out.push(String::from_utf8(b).unwrap());
        })?;
        Ok(out)
    }

    #[test]
    fn field_access_projection_arithmetic_comparison() {
        let t = r#"{"symbol":"BTC","price":10.5,"qty":3}"#;
        assert_eq!(run(".symbol", t).unwrap(), [r#""BTC""#]);
        assert_eq!(run("{sym: .symbol, px: .price}", t).unwrap(), [r#"{"sym":"BTC","px":10.5}"#]);
        assert_eq!(run(".price * .qty", t).unwrap(), ["31.5"]);
        assert_eq!(run(".qty > 0", t).unwrap(), ["true"]);
        assert_eq!(run(".items[]?", t).unwrap(), Vec::<String>::new());
        assert_eq!(run("[.qty, .qty + 1] | .[]", t).unwrap(), ["3", "4"]);
        assert_eq!(run(".symbol | ascii_downcase", t).unwrap(), [r#""btc""#]);
    }

    #[test]
    fn runtime_errors_are_values_not_panics() {
        let e = run(".a.b", r#"{"a":5}"#).unwrap_err();
        assert!(e.0.contains("index"), "{e}");
        assert!(run(r#"error("boom")"#, "1").unwrap_err().0.contains("boom"));
    }

    #[test]
    fn compile_errors_say_what_and_where() {
        let e = Expr::new(".a | | .b").unwrap_err();
        assert!(e.to_string().contains("invalid jq expression"), "{e}");
        assert!(e.message.contains("byte"), "{e}");
        let e = Expr::new("nosuchfn(1)").unwrap_err();
        assert!(e.message.contains("undefined"), "{e}");
        assert!(e.message.contains("nosuchfn"), "{e}");
        assert!(Expr::new("{").is_err());
    }

    #[test]
    fn json_parse_and_truthiness() {
        assert!(parse_json(b"{\"a\":").is_err());
        assert!(parse_json(b"not json").is_err());
        assert!(parse_json(b" [1,2] ").is_ok());
        assert!(truthy(&parse_json(b"0").unwrap()));
        assert!(!truthy(&parse_json(b"null").unwrap()));
        assert!(!truthy(&parse_json(b"false").unwrap()));
    }
}
