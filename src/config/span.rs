//! Where a key is in the TOML text: the line an error found after parsing points at.
//!
//! Best effort by design: the TOML parser's own errors carry exact spans; these find the line of
//! a key that `validate()` or a table's check refused, by scanning the text for the table header
//! and the key, and fall back to the table's header (or nothing) when the layout is unusual.

/// The 1-based line of a byte offset.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Best-effort location of a dotted key (`table.key`) in TOML text, for semantic errors found by
/// `validate()` after parsing.
pub(super) fn key_span(text: &str, dotted: &str) -> Option<std::ops::Range<usize>> {
    let (table, key) = match dotted.rsplit_once('.') {
        Some((t, k)) => (t, k),
        None => ("", dotted),
    };
    let mut current = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            current = name.trim().to_string();
        } else if let Some((k, _)) = trimmed.split_once('=') {
            let k = k.trim();
            if (current == table && k == key) || (current.is_empty() && k == dotted) {
                return Some(offset..offset + line.len());
            }
        }
        offset += line.len();
    }
    None
}

/// Line span of `key` (its first dotted part) inside the `index`-th `[[table]]` of `text`, or
/// of the table's header (best effort): `[[pipeline]]`, `[[source]]`, `[[sink]]`.
pub(super) fn table_key_span(
    text: &str,
    table: &str,
    index: usize,
    key: &str,
) -> Option<std::ops::Range<usize>> {
    let key = key.split('.').next().unwrap_or(key);
    let header_text = format!("[[{table}]]");
    let mut seen = 0usize;
    let mut inside = false;
    let mut offset = 0;
    let mut header = None;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t.replace(' ', "") == header_text && {
                seen += 1;
                seen == index + 1
            };
            if inside {
                header = Some(offset..offset + line.len());
            }
        } else if inside && t.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            return Some(offset..offset + line.len());
        }
        offset += line.len();
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_key_spans_find_the_key_in_the_right_table() {
        let text =
            "[[source]]\nname = \"a\"\n\n[[sink]]\nname = \"b\"\nbackoff = { max = \"1s\" }\n";
        assert_eq!(
            &text[table_key_span(text, "sink", 0, "backoff.max").unwrap()],
            "backoff = { max = \"1s\" }\n"
        );
        assert_eq!(&text[table_key_span(text, "source", 0, "name").unwrap()], "name = \"a\"\n");
        assert_eq!(&text[table_key_span(text, "source", 0, "url").unwrap()], "[[source]]\n");
        let text =
            "[[pipeline]]\nname = \"a\"\nto = \"x\"\n\n[[pipeline]]\nname = \"b\"\nto = \"y\"\n";
        assert_eq!(&text[table_key_span(text, "pipeline", 1, "to").unwrap()], "to = \"y\"\n");
        assert_eq!(&text[table_key_span(text, "pipeline", 0, "steps").unwrap()], "[[pipeline]]\n");
    }
}
