//! The documentation works as written: every relative link in `README.md` and `docs/*.md`
//! leads to a file that exists (and to a heading that exists, for `#anchors` into Markdown),
//! every repository file a documented command names exists, and the `sluice replay` examples
//! print exactly the output the pages show after them.

mod util;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use util::watchdog;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page of docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// A fenced code block: its info string, its text, and the line it starts on.
struct Block {
    info: String,
    text: String,
    line: usize,
}

/// The fenced blocks of a page, and its prose with code blocks and code spans blanked out.
fn split(md: &str) -> (Vec<Block>, String) {
    let mut blocks = Vec::new();
    let mut prose = String::new();
    let mut open: Option<Block> = None;
    for (i, line) in md.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        match (&mut open, fence) {
            (None, true) => {
                let info = line.trim_start().trim_start_matches('`').trim().to_string();
                open = Some(Block { info, text: String::new(), line: i + 1 });
            }
            (Some(_), true) => blocks.push(open.take().unwrap()),
            (Some(b), false) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, false) => {
                // Blank out inline code spans: they show syntax, not links.
                let mut in_code = false;
                for c in line.chars() {
                    if c == '`' {
                        in_code = !in_code;
                    }
                    prose.push(if in_code || c == '`' { ' ' } else { c });
                }
            }
        }
        if open.is_none() || fence {
            prose.push('\n');
        }
    }
    (blocks, prose)
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c.to_lowercase().next().unwrap()),
            _ => None,
        })
        .collect()
}

fn anchors(md: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut in_code = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let base = slug(line.trim_start_matches('#'));
        let mut s = base.clone();
        let mut n = 0;
        while !seen.insert(s.clone()) {
            n += 1;
            s = format!("{base}-{n}");
        }
    }
    seen
}

/// The targets of `[text](target)` and `![alt](target)` links in prose.
fn link_targets(prose: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = prose;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        out.push(after[..end].trim().to_string());
        rest = &after[end..];
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    watchdog(60, || {
        let mut problems = Vec::new();
        let mut checked = 0;
        for page in pages() {
            let md = std::fs::read_to_string(&page).unwrap();
            let (_, prose) = split(&md);
            for target in link_targets(&prose) {
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                checked += 1;
                let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let file =
                    if path.is_empty() { page.clone() } else { page.parent().unwrap().join(path) };
                if !file.exists() {
                    problems.push(format!("{}: `{target}`: no such file", shown(&page)));
                    continue;
                }
                if !anchor.is_empty() && file.extension().is_some_and(|e| e == "md") {
                    let text = std::fs::read_to_string(&file).unwrap();
                    if !anchors(&text).contains(anchor) {
                        problems.push(format!("{}: `{target}`: no such heading", shown(&page)));
                    }
                }
            }
        }
        assert!(checked > 50, "only {checked} links found: is the scanner broken?");
        assert!(problems.is_empty(), "broken links:\n{}", problems.join("\n"));
    });
}

/// Directories of the repository whose files commands name.
const TREE: [&str; 8] =
    ["examples/", "tests/", "perf/", "docs/", "src/", "fuzz/", ".ci/", "connectors/"];

#[test]
fn every_file_a_documented_command_names_exists() {
    watchdog(60, || {
        let mut problems = Vec::new();
        let mut checked = 0;
        for page in pages() {
            let md = std::fs::read_to_string(&page).unwrap();
            let (blocks, _) = split(&md);
            for b in blocks.iter().filter(|b| b.info == "sh") {
                for (n, line) in b.text.lines().enumerate() {
                    let command = line.split(" #").next().unwrap();
                    let words: Vec<&str> = command.split_whitespace().collect();
                    for (i, word) in words.iter().enumerate() {
                        let word = word.trim_matches(|c| "'\";,()".contains(c));
                        let mut named = None;
                        // Build outputs (`perf/target/…`) appear once built.
                        if TREE.iter().any(|d| word.starts_with(d))
                            && !word.contains(['<', '*', '$', '{'])
                            && !word.contains("/target/")
                        {
                            named = Some(word.to_string());
                        }
                        let prev = if i > 0 { words[i - 1] } else { "" };
                        if prev == "--example" {
                            named = Some(format!("examples/{word}.rs"));
                        }
                        if prev == "--test" {
                            named = Some(format!("tests/{word}.rs"));
                        }
                        if let Some(path) = named {
                            checked += 1;
                            if !root().join(&path).exists() {
                                problems.push(format!(
                                    "{}:{}: `{path}` does not exist",
                                    shown(&page),
                                    b.line + n + 1
                                ));
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 30, "only {checked} files named: is the scanner broken?");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    });
}

#[test]
fn the_replay_examples_print_what_the_docs_show() {
    watchdog(120, || {
        let mut ran = 0;
        for page in pages() {
            let md = std::fs::read_to_string(&page).unwrap();
            let (blocks, _) = split(&md);
            for (i, b) in blocks.iter().enumerate() {
                if b.info != "sh" {
                    continue;
                }
                for line in b.text.lines().filter(|l| l.contains("sluice replay ")) {
                    let args: Vec<&str> =
                        line.split(" replay ").nth(1).unwrap().split_whitespace().collect();
                    let shown_output = blocks.get(i + 1).unwrap_or_else(|| {
                        panic!("{}:{}: no output block after the command", shown(&page), b.line)
                    });
                    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
                        .current_dir(root())
                        .arg("replay")
                        .args(&args)
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{line}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let printed = format!(
                        "{}{}",
                        String::from_utf8(out.stdout).unwrap(),
                        String::from_utf8(out.stderr).unwrap()
                    );
                    assert_eq!(
                        printed,
                        shown_output.text,
                        "{}:{}: `{line}` prints something else than the page shows",
                        shown(&page),
                        shown_output.line
                    );
                    ran += 1;
                }
            }
        }
        // The README's pipeline and window examples, and the same in pipelines.md, windows.md.
        assert!(ran >= 4, "only {ran} replay examples found");
    });
}

#[test]
fn the_readme_stays_short_and_the_pages_speak_to_users() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 320, "README.md has {lines} lines; move details to docs/");
    for page in pages() {
        let md = std::fs::read_to_string(&page).unwrap();
        for (n, line) in md.lines().enumerate() {
            let lower = line.to_lowercase();
            assert!(
                !lower.contains("issue #") && !lower.contains("issue's target"),
                "{}:{}: pages are for users, not about the project's issues: {line}",
                shown(&page),
                n + 1
            );
        }
    }
}
