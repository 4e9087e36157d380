//! axe-core, run in the page: the accessibility rules a test fails on.
//!
//! The script is handed to the page by WebDriver's execute commands, which
//! run through DevTools and are not subject to the page's
//! `Content-Security-Policy` (the portal's forbids every script), so the
//! pages are checked as served. `vendor/axe-core/README.md` says which
//! version this is and where it came from.

use std::fmt;

use serde::Deserialize;

const AXE: &str = include_str!("../vendor/axe-core/axe.min.js");

/// Runs every rule axe enables by default (WCAG 2.x A and AA, and its best
/// practices) and answers the violations.
const RUN: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ["violations"] })
  .then((results) => done({ violations: results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
  })) }))
  .catch((error) => done({ error: String(error) }));
"#;

#[derive(Debug, Deserialize)]
pub struct Outcome {
    #[serde(default)]
    violations: Vec<Violation>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Violation {
    id: String,
    impact: Option<String>,
    help: String,
    nodes: Vec<Node>,
}

#[derive(Debug, Deserialize)]
struct Node {
    target: serde_json::Value,
    summary: Option<String>,
}

/// The script that defines `axe` in a page that lacks it.
pub fn source() -> &'static str {
    AXE
}

/// The script that runs axe (`execute_async`).
pub fn run() -> &'static str {
    RUN
}

impl Outcome {
    /// Nothing to report.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty() && self.error.is_none()
    }

    /// The rules violated (`image-alt`, `color-contrast`, …).
    pub fn rules(&self) -> Vec<&str> {
        self.violations.iter().map(|v| v.id.as_str()).collect()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(error) = &self.error {
            writeln!(f, "axe did not run: {error}")?;
        }
        for violation in &self.violations {
            let impact = violation.impact.as_deref().unwrap_or("unknown");
            writeln!(f, "- {} ({impact}): {}", violation.id, violation.help)?;
            for node in &violation.nodes {
                writeln!(f, "    {}", node.target)?;
                if let Some(summary) = &node.summary {
                    for line in summary.lines() {
                        writeln!(f, "      {line}")?;
                    }
                }
            }
        }
        Ok(())
    }
}
