//! Known failures: directives a run expects to fail, each with the reason (a firmware bug on
//! record), so that a CI run stays green on what is already known and red on anything new.
//! A known failure that no longer fails is itself a failure ("remove it from the list"), so the
//! list cannot hide a fix or go stale.
//!
//! The list is a text file, one entry per line: `FILE:LINE reason`, where FILE is the script as
//! reports name it (`wasm-v1/call_indirect.wast`, or the path given); `#` starts a comment.

use std::collections::BTreeMap;

use super::report::{Failure, Report};

/// Known failures by `(file, line)`, with their reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownFailures {
    entries: BTreeMap<(String, usize), String>,
}

/// What applying the list to one file's report found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Failures the list expects, with the list's reason.
    pub known: Vec<(Failure, String)>,
    /// Entries for this file whose directive did not fail: `FILE:LINE reason`.
    pub fixed: Vec<String>,
}

impl KnownFailures {
    /// Parses the list's text.
    pub fn parse(text: &str) -> Result<KnownFailures, String> {
        let mut entries = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let (place, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let parsed = place
                .rsplit_once(':')
                .and_then(|(file, at)| Some((file.to_owned(), at.parse::<usize>().ok()?)));
            let Some(key) = parsed else {
                return Err(format!("line {}: `{place}` is not FILE:LINE", number + 1));
            };
            entries.insert(key, reason.trim().to_owned());
        }
        Ok(KnownFailures { entries })
    }

    /// Takes the known failures of `file` out of `report`'s failures and adds a failure for
    /// each entry of `file` that did not fail.
    pub fn apply(&self, file: &str, report: &mut Report) -> Applied {
        let mut applied = Applied::default();
        let mut seen = Vec::new();
        report.failures.retain(|failure| {
            match self.entries.get(&(failure.file.clone(), failure.line)) {
                Some(reason) => {
                    seen.push(failure.line);
                    applied.known.push((failure.clone(), reason.clone()));
                    false
                }
                None => true,
            }
        });
        for ((entry_file, line), reason) in &self.entries {
            if entry_file == file && !seen.contains(line) {
                applied.fixed.push(format!("{entry_file}:{line} {reason}"));
                report.failures.push(Failure {
                    file: entry_file.clone(),
                    line: *line,
                    engine: None,
                    directive: "known failure".into(),
                    message: format!(
                        "listed as known ({reason}) but it did not fail: remove it from the list"
                    ),
                });
            }
        }
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(file: &str, line: usize) -> Failure {
        Failure {
            file: file.into(),
            line,
            engine: Some("hardware".into()),
            directive: "assert_invalid".into(),
            message: "wrong".into(),
        }
    }

    /// Listed failures leave the report with their reason, unlisted ones stay, an entry that
    /// did not fail becomes a failure, and entries of other files are left alone.
    #[test]
    fn listed_failures_are_known_and_stale_entries_fail() {
        let list = KnownFailures::parse(
            "# firmware bugs\nwasm-v1/a.wast:3 the ICE  # jit\n\nwasm-v1/a.wast:9 fixed since\n\
             wasm-v1/b.wast:1 elsewhere\n",
        )
        .unwrap();
        let mut report = Report {
            failures: vec![failure("wasm-v1/a.wast", 3), failure("wasm-v1/a.wast", 4)],
            ..Report::default()
        };
        let applied = list.apply("wasm-v1/a.wast", &mut report);
        assert_eq!(applied.known.len(), 1);
        assert_eq!(applied.known[0].1, "the ICE");
        assert_eq!(applied.fixed, ["wasm-v1/a.wast:9 fixed since"]);
        let lines: Vec<usize> = report.failures.iter().map(|failure| failure.line).collect();
        assert_eq!(lines, [4, 9]);
        assert!(KnownFailures::parse("no-line-number reason").is_err());
    }
}
