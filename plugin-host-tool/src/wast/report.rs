//! What a run reports: a [`Failure`] per directive that did not go as the script says, counts
//! of passed directives, and skips counted by reason ([`Report`]).

use std::collections::BTreeMap;
use std::fmt;

/// A directive that did not go as the script says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The script, as given.
    pub file: String,
    /// 1-based line of the directive.
    pub line: usize,
    /// Which engine ran it, when a run has several (`hardware`, `software`).
    pub engine: Option<String>,
    /// The directive, shortened: `assert_return (invoke "add" 1 2)`.
    pub directive: String,
    /// What was expected and what happened.
    pub message: String,
}

impl fmt::Display for Failure {
    /// `file:line: [engine] directive: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(engine) = &self.engine {
            write!(f, "[{engine}] ")?;
        }
        write!(f, "{}: {}", self.directive, self.message)
    }
}

/// What a run of one or more scripts did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Directives that went as the script says.
    pub passed: usize,
    /// Directives that did not, in order.
    pub failures: Vec<Failure>,
    /// Skipped directives, counted by reason.
    pub skips: BTreeMap<String, usize>,
}

impl Report {
    /// Directives that failed.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// Directives skipped.
    pub fn skipped(&self) -> usize {
        self.skips.values().sum()
    }

    /// Every directive counted.
    pub fn directives(&self) -> usize {
        self.passed + self.failed() + self.skipped()
    }

    /// Adds `other`'s counts, failures and skips to this report.
    pub fn merge(&mut self, other: Report) {
        self.passed += other.passed;
        self.failures.extend(other.failures);
        for (reason, count) in other.skips {
            *self.skips.entry(reason).or_default() += count;
        }
    }

    /// Marks every failure as coming from `engine`.
    pub fn label_engine(&mut self, engine: &str) {
        for failure in &mut self.failures {
            failure.engine = Some(engine.to_owned());
        }
    }

    /// `N passed, M failed, K skipped`.
    pub fn summary_line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failed(),
            self.skipped()
        )
    }

    /// One `skipped N: reason` line per reason, most frequent first.
    pub fn skip_lines(&self) -> Vec<String> {
        let mut reasons: Vec<(&String, &usize)> = self.skips.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        reasons
            .into_iter()
            .map(|(reason, count)| format!("skipped {count}: {reason}"))
            .collect()
    }

    pub(super) fn record(&mut self, outcome: Outcome, failure: impl FnOnce(String) -> Failure) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed(message) => self.failures.push(failure(message)),
            Outcome::Skipped(reason) => *self.skips.entry(reason).or_default() += 1,
        }
    }
}

/// What one directive did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// It went as the script says.
    Passed,
    /// It did not: what was expected and what happened.
    Failed(String),
    /// It was not run, for this reason.
    Skipped(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reports merge, count every directive, carry the engine's label, and list skip reasons
    /// most frequent first.
    #[test]
    fn reports_merge_and_summarise() {
        let mut report = Report::default();
        report.record(Outcome::Failed("wrong".into()), |message| Failure {
            file: "t.wast".into(),
            line: 2,
            engine: None,
            directive: "script".into(),
            message,
        });
        report.label_engine("software");
        assert_eq!(
            report.failures[0].to_string(),
            "t.wast:2: [software] script: wrong"
        );
        let mut other = Report {
            passed: 4,
            ..Report::default()
        };
        other.skips.insert("i64 values".into(), 2);
        other.skips.insert("a reason".into(), 3);
        report.merge(other);
        assert_eq!(report.summary_line(), "4 passed, 1 failed, 5 skipped");
        assert_eq!(
            report.skip_lines(),
            ["skipped 3: a reason", "skipped 2: i64 values"]
        );
        assert_eq!(report.directives(), 10);
    }
}
