//! Regular expressions compiled once. Every pattern is a literal exercised by
//! the unit tests of the module that uses it, so compiling cannot fail at run
//! time.

use regex::Regex;

#[expect(
    clippy::expect_used,
    reason = "patterns are string literals covered by tests"
)]
pub(crate) fn static_regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a literal regex pattern compiles")
}
