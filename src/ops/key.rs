//! Partition keys: a jq path (`.symbol`, `.order.account`, `.[0]`, `.["a b"]`) read from a
//! message as published, by the reactor, without parsing the whole message.
//!
//! The reactor must route a message to the worker that owns its key before any operator runs,
//! and it must not run user code or allocate per message. So the key is restricted to a path,
//! and [`KeyPath::extract`] scans the JSON text only as far as the key's value, returning that
//! value's bytes. jq's rules apply: a missing field (or indexing `null`) gives `null`; indexing
//! a number, string or boolean is an error. JSON after the key is not checked here (the worker
//! checks it when a step parses the message).

use std::fmt;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Field(String),
    Index(usize),
}

/// A parsed key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    source: String,
    segs: Vec<Seg>,
}

/// Why a key could not be read from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// The message is not valid JSON (as far as it was read).
    InvalidJson,
    /// The path indexes a value that cannot be indexed that way (a field of a number, …).
    NotIndexable,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::InvalidJson => f.write_str("the message is not valid JSON"),
            KeyError::NotIndexable => f.write_str("the key path indexes a non-container value"),
        }
    }
}

const NULL: &[u8] = b"null";

impl KeyPath {
    /// Parse a path; the error says what is accepted.
    pub fn parse(source: &str) -> Result<KeyPath, String> {
        let bad = || {
            format!(
                "key `{source}` must be a jq path such as `.symbol`, `.a.b`, `.[0]` or `.[\"a b\"]`"
            )
        };
        let s = source.trim();
        let b = s.as_bytes();
        if b.first() != Some(&b'.') {
            return Err(bad());
        }
        let mut segs = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'.' if b.get(i + 1) == Some(&b'[') => i += 1,
                b'.' if b.get(i + 1) == Some(&b'"') => {
                    let (name, end) = quoted(s, i + 1).ok_or_else(bad)?;
                    segs.push(Seg::Field(name));
                    i = end;
                }
                b'.' => {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    if j == start || b[start].is_ascii_digit() {
                        if j == b.len() && start == b.len() && segs.is_empty() {
                            return Err(format!("{}: `.` alone is the whole message", bad()));
                        }
                        return Err(bad());
                    }
                    segs.push(Seg::Field(s[start..j].to_string()));
                    i = j;
                }
                b'[' => {
                    if b.get(i + 1) == Some(&b'"') {
                        let (name, end) = quoted(s, i + 1).ok_or_else(bad)?;
                        if b.get(end) != Some(&b']') {
                            return Err(bad());
                        }
                        segs.push(Seg::Field(name));
                        i = end + 1;
                    } else {
                        let close = s[i..].find(']').ok_or_else(bad)? + i;
                        let n: usize = s[i + 1..close].trim().parse().map_err(|_| bad())?;
                        segs.push(Seg::Index(n));
                        i = close + 1;
                    }
                }
                _ => return Err(bad()),
            }
        }
        if segs.is_empty() {
            return Err(bad());
        }
        Ok(KeyPath { source: s.to_string(), segs })
    }

    /// The path as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The JSON text of the key's value in `json` (`null` if it is missing).
    pub fn extract<'a>(&self, json: &'a [u8]) -> Result<&'a [u8], KeyError> {
        let mut c = Cursor { b: json, i: 0 };
        for seg in &self.segs {
            c.ws();
            match (seg, c.peek()) {
                (_, Some(b'n')) => {
                    c.literal(NULL)?;
                    return Ok(NULL);
                }
                (Seg::Field(name), Some(b'{')) => {
                    if !c.find_field(name)? {
                        return Ok(NULL);
                    }
                }
                (Seg::Index(n), Some(b'[')) => {
                    if !c.find_index(*n)? {
                        return Ok(NULL);
                    }
                }
                (_, Some(b'{' | b'[' | b'"' | b't' | b'f' | b'-' | b'0'..=b'9')) => {
                    return Err(KeyError::NotIndexable)
                }
                _ => return Err(KeyError::InvalidJson),
            }
        }
        c.ws();
        let start = c.i;
        c.skip_value()?;
        Ok(&json[start..c.i])
    }
}

/// Whether `json` is one valid JSON value (surrounding whitespace allowed), checked without
/// allocating. Strings are checked for control characters, not for valid escapes or UTF-8.
pub fn is_json(json: &[u8]) -> bool {
    let mut c = Cursor { b: json, i: 0 };
    if c.skip_value().is_err() {
        return false;
    }
    c.ws();
    c.i == json.len()
}

/// A JSON string starting at `s[at] == '"'`, decoded (the common escapes); returns the text
/// and the index after the closing quote.
fn quoted(s: &str, at: usize) -> Option<(String, usize)> {
    let rest = &s[at + 1..];
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '"' => return Some((out, at + 1 + i + 1)),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                c @ ('"' | '\\' | '/') => out.push(c),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), KeyError> {
        self.ws();
        if self.peek() == Some(byte) {
            self.i += 1;
            Ok(())
        } else {
            Err(KeyError::InvalidJson)
        }
    }

    fn literal(&mut self, lit: &[u8]) -> Result<(), KeyError> {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(KeyError::InvalidJson)
        }
    }

    /// Skip a string (cursor on its opening quote); returns its raw contents and whether it
    /// has escapes.
    fn string(&mut self) -> Result<(usize, usize, bool), KeyError> {
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            match self.b.get(j) {
                None => return Err(KeyError::InvalidJson),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    j += 2;
                }
                Some(&c) if c < 0x20 => return Err(KeyError::InvalidJson),
                Some(_) => j += 1,
            }
        }
        self.i = j + 1;
        Ok((start, j, escaped))
    }

    fn skip_value(&mut self) -> Result<(), KeyError> {
        self.ws();
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(NULL),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(open @ (b'{' | b'[')) => {
                self.i += 1;
                self.ws();
                let close = if open == b'{' { b'}' } else { b']' };
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    if open == b'{' {
                        self.ws();
                        if self.peek() != Some(b'"') {
                            return Err(KeyError::InvalidJson);
                        }
                        self.string()?;
                        self.expect(b':')?;
                    }
                    self.skip_value()?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(c) if c == close => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(KeyError::InvalidJson),
                    }
                }
            }
            _ => Err(KeyError::InvalidJson),
        }
    }

    /// Skip a number, checked against JSON's grammar (`-? (0 | [1-9][0-9]*) (. [0-9]+)?
    /// ([eE] [+-]? [0-9]+)?`) without converting it.
    fn number(&mut self) -> Result<(), KeyError> {
        let b = self.b;
        let mut i = self.i;
        let digits = |mut i: usize| {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        i = match b.get(i) {
            Some(b'0') => i + 1,
            Some(b'1'..=b'9') => digits(i + 1),
            _ => return Err(KeyError::InvalidJson),
        };
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return Err(KeyError::InvalidJson);
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return Err(KeyError::InvalidJson);
            }
            i = end;
        }
        self.i = i;
        Ok(())
    }

    /// Cursor on `{`: move to the value of `name`; false (cursor anywhere) if absent.
    fn find_field(&mut self, name: &str) -> Result<bool, KeyError> {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            return Ok(false);
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(KeyError::InvalidJson);
            }
            let (s, e, escaped) = self.string()?;
            let raw = &self.b[s..e];
            let hit = if escaped {
                let quoted_text = std::str::from_utf8(&self.b[s - 1..=e]).ok();
                quoted_text.and_then(|q| quoted(q, 0)).is_some_and(|(k, _)| k == name)
            } else {
                raw == name.as_bytes()
            };
            self.expect(b':')?;
            if hit {
                return Ok(true);
            }
            self.skip_value()?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => return Ok(false),
                _ => return Err(KeyError::InvalidJson),
            }
        }
    }

    /// Cursor on `[`: move to element `n`; false if the array is shorter.
    fn find_index(&mut self, n: usize) -> Result<bool, KeyError> {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            return Ok(false);
        }
        for _ in 0..n {
            self.skip_value()?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => return Ok(false),
                _ => return Err(KeyError::InvalidJson),
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str, json: &str) -> Result<String, KeyError> {
        let p = KeyPath::parse(path).unwrap();
        p.extract(json.as_bytes()).map(|b| String::from_utf8(b.to_vec()).unwrap())
    }

    #[test]
    fn paths_parse() {
        for ok in [".a", ".a.b", ".[0]", ".a[2].b", ".[\"a b\"]", ".\"x-y\"", ".a_1"] {
            assert!(KeyPath::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "a", ".a b", ".[x]", ".a | .b", ".1", ".a[", "{a}", ".a + 1"] {
            let e = KeyPath::parse(bad).unwrap_err();
            assert!(e.contains("jq path"), "{bad}: {e}");
        }
    }

    #[test]
    fn extracts_values_as_json_text() {
        let doc = r#" {"sym":"BTC", "px": 1.5e3, "o": {"acct": [10, {"id": "x\"y"}]}, "n": null}"#;
        assert_eq!(key(".sym", doc).unwrap(), r#""BTC""#);
        assert_eq!(key(".px", doc).unwrap(), "1.5e3");
        assert_eq!(key(".o.acct[0]", doc).unwrap(), "10");
        assert_eq!(key(".o.acct[1].id", doc).unwrap(), r#""x\"y""#);
        assert_eq!(key(".o.acct[1]", doc).unwrap(), r#"{"id": "x\"y"}"#);
        assert_eq!(key(".o", doc).unwrap(), r#"{"acct": [10, {"id": "x\"y"}]}"#);
        assert_eq!(key(".[\"sym\"]", doc).unwrap(), r#""BTC""#);
    }

    #[test]
    fn missing_is_null_and_wrong_types_are_errors() {
        let doc = r#"{"a": 1, "s": "x", "n": null, "arr": []}"#;
        assert_eq!(key(".zzz", doc).unwrap(), "null");
        assert_eq!(key(".n.deeper", doc).unwrap(), "null");
        assert_eq!(key(".arr[3]", doc).unwrap(), "null");
        assert_eq!(key(".zzz", "{}").unwrap(), "null");
        assert_eq!(key(".a.b", doc), Err(KeyError::NotIndexable));
        assert_eq!(key(".s[0]", doc), Err(KeyError::NotIndexable));
        assert_eq!(key(".a", "[1]"), Err(KeyError::NotIndexable));
    }

    #[test]
    fn invalid_json_is_reported() {
        assert_eq!(key(".a", "not json"), Err(KeyError::InvalidJson));
        assert_eq!(key(".a", ""), Err(KeyError::InvalidJson));
        assert_eq!(key(".b", r#"{"a": tru, "b": 1}"#), Err(KeyError::InvalidJson));
        assert_eq!(key(".a", r#"{"a": "unterminated}"#), Err(KeyError::InvalidJson));
        assert_eq!(key(".b", r#"{"a" 1}"#), Err(KeyError::InvalidJson));
        assert_eq!(key(".a", r#"{"a": 1e}"#), Err(KeyError::InvalidJson));
        for bad in ["01", "1.", "-", "1e+", ".5", "1.e3", "--1", "1-2"] {
            assert_eq!(
                key(".b", &format!("{{\"a\": {bad}, \"b\": 1}}")),
                Err(KeyError::InvalidJson),
                "{bad}"
            );
        }
        for good in
            ["0", "-0", "1.5", "-12.25e+3", "1E-7", "0.0e0", "123456789012345678901234567890"]
        {
            assert_eq!(
                key(".b", &format!("{{\"a\": {good}, \"b\": 1}}")),
                Ok("1".into()),
                "{good}"
            );
            assert_eq!(key(".a", &format!("{{\"a\": {good}}}")), Ok(good.into()), "{good}");
        }
        assert!(is_json(b" {\"a\": [1, -2.5e3, \"x\", null, true, {}]} "));
        assert!(!is_json(b"{\"a\": 1} x"));
        assert!(!is_json(b"{\"a\": 01}"));
    }

    #[test]
    fn escaped_field_names_match() {
        assert_eq!(key(".ab", r#"{"a\u0062": 1, "ab": 2}"#).unwrap(), "2");
        assert_eq!(key(".[\"a\\\"b\"]", r#"{"a\"b": 3}"#).unwrap(), "3");
    }
}
