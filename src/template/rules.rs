//! Rules over field values, decided without I/O: conditions that show a layer only for some
//! recipients, and the ordered rules that choose a template's variant — directly, or by an
//! A/B split that assigns each recipient a variant by a stable hash of a key field, so one
//! recipient always sees the same one.

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::format::parse_moment;

/// What a condition knows of a field: the value personalization accepted, or why there is
/// none. A refused value counts as missing: the field shows its fallback, and conditions
/// see what the recipient sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Given(&'a str),
    /// Sent, but blank.
    Empty,
    /// Not sent, or refused.
    Missing,
}

/// One test of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCondition", into = "RawCondition")]
pub struct Condition {
    pub field: String,
    pub test: Test,
}

/// What a condition checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// The value, compared without regard to case.
    Equals(String),
    /// One of the values, without regard to case.
    OneOf(Vec<String>),
    /// Whether the field has a value.
    Exists(bool),
    /// Whether the field was not sent (or was refused).
    Missing(bool),
    /// Whether the field was sent blank.
    Empty(bool),
    /// A regular expression found in the value (anchor it with `^…$` to match the whole).
    Matches(Pattern),
    /// A number comparison; a value that is not a number never holds.
    Compare(Cmp, f64),
    /// The value, a date or date-time in the template's time zone, is before the moment.
    Before(Moment),
    After(Moment),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// What a date is compared with: the time of the request, or a fixed date-time written in
/// the template's time zone (checked when the template is saved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moment {
    Now,
    At(String),
}

impl Moment {
    fn read(s: String) -> Moment {
        if s == "now" {
            Moment::Now
        } else {
            Moment::At(s)
        }
    }

    fn written(&self) -> String {
        match self {
            Moment::Now => "now".into(),
            Moment::At(s) => s.clone(),
        }
    }
}

/// A compiled regular expression that compares by its source.
#[derive(Debug, Clone)]
pub struct Pattern(Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// A condition as written: `{"field": "segment", "equals": "retail"}` — the field and
/// exactly one test.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    one_of: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exists: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    missing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    empty: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    matches: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
}

impl TryFrom<RawCondition> for Condition {
    type Error = String;

    fn try_from(r: RawCondition) -> Result<Condition, String> {
        let mut tests = Vec::new();
        let number = |v: f64| -> Result<f64, String> {
            if v.is_finite() {
                Ok(v)
            } else {
                Err("comparisons take a finite number".into())
            }
        };
        if let Some(v) = r.equals {
            tests.push(Test::Equals(v));
        }
        if let Some(v) = r.one_of {
            if v.is_empty() {
                return Err("one_of needs at least one value".into());
            }
            tests.push(Test::OneOf(v));
        }
        if let Some(v) = r.exists {
            tests.push(Test::Exists(v));
        }
        if let Some(v) = r.missing {
            tests.push(Test::Missing(v));
        }
        if let Some(v) = r.empty {
            tests.push(Test::Empty(v));
        }
        if let Some(p) = r.matches {
            let re = regex::RegexBuilder::new(&p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("matches: {e}"))?;
            tests.push(Test::Matches(Pattern(re)));
        }
        for (v, cmp) in [
            (r.gt, Cmp::Gt),
            (r.gte, Cmp::Gte),
            (r.lt, Cmp::Lt),
            (r.lte, Cmp::Lte),
        ] {
            if let Some(v) = v {
                tests.push(Test::Compare(cmp, number(v)?));
            }
        }
        if let Some(v) = r.before {
            tests.push(Test::Before(Moment::read(v)));
        }
        if let Some(v) = r.after {
            tests.push(Test::After(Moment::read(v)));
        }
        if tests.len() != 1 {
            return Err("a condition has a field and exactly one test: equals, one_of, exists, missing, empty, matches, gt, gte, lt, lte, before or after".into());
        }
        Ok(Condition {
            field: r.field,
            test: tests.remove(0),
        })
    }
}

impl From<Condition> for RawCondition {
    fn from(c: Condition) -> RawCondition {
        let mut r = RawCondition {
            field: c.field,
            ..RawCondition::default()
        };
        match c.test {
            Test::Equals(v) => r.equals = Some(v),
            Test::OneOf(v) => r.one_of = Some(v),
            Test::Exists(v) => r.exists = Some(v),
            Test::Missing(v) => r.missing = Some(v),
            Test::Empty(v) => r.empty = Some(v),
            Test::Matches(p) => r.matches = Some(p.0.as_str().to_string()),
            Test::Compare(Cmp::Gt, v) => r.gt = Some(v),
            Test::Compare(Cmp::Gte, v) => r.gte = Some(v),
            Test::Compare(Cmp::Lt, v) => r.lt = Some(v),
            Test::Compare(Cmp::Lte, v) => r.lte = Some(v),
            Test::Before(m) => r.before = Some(m.written()),
            Test::After(m) => r.after = Some(m.written()),
        }
        r
    }
}

/// Groups of conditions: the groups are OR-ed, the conditions within a group AND-ed.
pub type When = Vec<Vec<Condition>>;

/// What conditions are evaluated against.
pub struct Facts<'a> {
    pub value: &'a dyn Fn(&str) -> Value<'a>,
    /// A field's default: what is drawn, and what value tests compare, when the request has
    /// no value.
    pub default: &'a dyn Fn(&str) -> Option<&'a str>,
    /// The time of the request.
    pub now: jiff::Timestamp,
    /// The template's time zone, for dates without an offset.
    pub tz: &'a jiff::tz::TimeZone,
}

impl Condition {
    pub fn holds(&self, facts: &Facts) -> bool {
        let value = (facts.value)(&self.field);
        let given = match value {
            Value::Given(v) => Some(v),
            _ => None,
        };
        // Value tests look at the value drawn: the field's default when the request has none
        // (a countdown's fixed end, say). Presence tests look at the request alone.
        let drawn = given.or_else(|| (facts.default)(&self.field).filter(|d| !d.trim().is_empty()));
        let lower = |s: &str| s.to_lowercase();
        match &self.test {
            Test::Exists(b) => given.is_some() == *b,
            Test::Missing(b) => (value == Value::Missing) == *b,
            Test::Empty(b) => (value == Value::Empty) == *b,
            Test::Equals(want) => drawn.is_some_and(|v| lower(v) == lower(want)),
            Test::OneOf(want) => drawn.is_some_and(|v| want.iter().any(|w| lower(v) == lower(w))),
            Test::Matches(p) => drawn.is_some_and(|v| p.0.is_match(v)),
            Test::Compare(cmp, n) => drawn
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .is_some_and(|v| match cmp {
                    Cmp::Gt => v > *n,
                    Cmp::Gte => v >= *n,
                    Cmp::Lt => v < *n,
                    Cmp::Lte => v <= *n,
                }),
            Test::Before(m) | Test::After(m) => {
                let Some(when) = drawn.and_then(|v| parse_moment(v, facts.tz)) else {
                    return false;
                };
                let Some(than) = (match m {
                    Moment::Now => Some(facts.now),
                    Moment::At(s) => parse_moment(s, facts.tz).map(|z| z.timestamp()),
                }) else {
                    return false;
                };
                match &self.test {
                    Test::Before(_) => when.timestamp() < than,
                    _ => when.timestamp() > than,
                }
            }
        }
    }

    /// Whether the outcome can change with the time of the request alone.
    pub fn depends_on_now(&self) -> bool {
        matches!(
            &self.test,
            Test::Before(Moment::Now) | Test::After(Moment::Now)
        )
    }

    /// A fixed moment that does not read in `tz`, for validation.
    pub fn bad_moment(&self, tz: &jiff::tz::TimeZone) -> bool {
        matches!(&self.test, Test::Before(Moment::At(s)) | Test::After(Moment::At(s))
            if parse_moment(s, tz).is_none())
    }
}

/// Whether any group holds in full.
pub fn holds(when: &When, facts: &Facts) -> bool {
    when.iter()
        .any(|group| group.iter().all(|c| c.holds(facts)))
}

/// One rule of a template's ordered list: when its conditions hold (or it has none), it
/// chooses a variant, or assigns one by a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct Rule {
    pub when: Option<When>,
    pub choice: Choice,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// A variant by name; [`BASE`] is the template as written.
    Variant(String),
    Split(Split),
}

/// The name of the template without a variant's changes.
pub const BASE: &str = "default";

/// An A/B split: each recipient's key field, hashed with the split's name, picks a variant
/// by weight (basis points, summing to 10,000). Stopped, it gives everyone its winner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// Names the split in stop requests and usage reports.
    pub name: String,
    /// The field whose value identifies a recipient (a contact id, never an address).
    pub key: String,
    /// Variant names and their weights in basis points.
    pub weights: BTreeMap<String, u32>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    when: Option<When>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    split: Option<Split>,
}

impl TryFrom<RawRule> for Rule {
    type Error = &'static str;

    fn try_from(r: RawRule) -> Result<Rule, &'static str> {
        let choice = match (r.variant, r.split) {
            (Some(v), None) => Choice::Variant(v),
            (None, Some(s)) => Choice::Split(s),
            _ => return Err("a rule chooses either a variant or a split"),
        };
        Ok(Rule {
            when: r.when,
            choice,
        })
    }
}

impl From<Rule> for RawRule {
    fn from(r: Rule) -> RawRule {
        let (variant, split) = match r.choice {
            Choice::Variant(v) => (Some(v), None),
            Choice::Split(s) => (None, Some(s)),
        };
        RawRule {
            when: r.when,
            variant,
            split,
        }
    }
}

/// Basis points in a whole.
pub const WHOLE: u32 = 10_000;

/// Where `key` falls in the split named `split`: 0 to 9,999, the same on every node and
/// after every restart (BLAKE3 of the two, not a seeded hash).
pub fn bucket(split: &str, key: &str) -> u32 {
    let mut h = blake3::Hasher::new();
    h.update(split.as_bytes());
    h.update(&[0]);
    h.update(key.as_bytes());
    let bytes = h.finalize();
    let n = u64::from_le_bytes(bytes.as_bytes()[..8].try_into().expect("8 bytes"));
    (n % WHOLE as u64) as u32
}

impl Split {
    /// The variant for a recipient key, by weight.
    pub fn assign(&self, key: &str) -> &str {
        let mut at = bucket(&self.name, key);
        for (variant, weight) in &self.weights {
            if at < *weight {
                return variant;
            }
            at -= weight;
        }
        // Weights sum to WHOLE (checked when saved); the last one takes any rest.
        self.weights.keys().next_back().map_or(BASE, String::as_str)
    }
}

/// The variant a request gets, and the split that assigned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub variant: String,
    pub split: Option<String>,
}

/// Walks the rules in order; the first that holds decides. A split whose key field has no
/// value does not hold (nobody to keep stable), so the next rule decides. `stopped` maps a
/// stopped split to its winner.
pub fn choose(rules: &[Rule], facts: &Facts, stopped: &BTreeMap<String, String>) -> Chosen {
    for rule in rules {
        if rule.when.as_ref().is_some_and(|w| !holds(w, facts)) {
            continue;
        }
        match &rule.choice {
            Choice::Variant(v) => {
                return Chosen {
                    variant: v.clone(),
                    split: None,
                };
            }
            Choice::Split(s) => {
                if let Some(winner) = stopped.get(&s.name) {
                    return Chosen {
                        variant: winner.clone(),
                        split: Some(s.name.clone()),
                    };
                }
                if let Value::Given(key) = (facts.value)(&s.key) {
                    return Chosen {
                        variant: s.assign(key).to_string(),
                        split: Some(s.name.clone()),
                    };
                }
            }
        }
    }
    Chosen {
        variant: BASE.to_string(),
        split: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(json: &str) -> Condition {
        serde_json::from_str(json).unwrap()
    }

    fn check(c: &Condition, v: Value) -> bool {
        let tz = crate::template::format::time_zone("Europe/Paris").unwrap();
        let now: jiff::Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let value = move |_: &str| v;
        c.holds(&Facts {
            value: &value,
            default: &|_| None,
            now,
            tz: &tz,
        })
    }

    #[test]
    fn value_tests_fall_back_to_the_default_and_presence_tests_do_not() {
        let tz = jiff::tz::TimeZone::UTC;
        let value = |_: &str| Value::Missing;
        let default = |_: &str| Some("2020-01-01T00:00:00Z");
        let facts = Facts {
            value: &value,
            default: &default,
            now: "2026-01-01T00:00:00Z".parse().unwrap(),
            tz: &tz,
        };
        assert!(cond(r#"{"field":"e","before":"now"}"#).holds(&facts));
        assert!(cond(r#"{"field":"e","matches":"^2020"}"#).holds(&facts));
        assert!(cond(r#"{"field":"e","missing":true}"#).holds(&facts));
        assert!(!cond(r#"{"field":"e","exists":true}"#).holds(&facts));
    }

    #[test]
    fn every_test_holds_where_it_should() {
        let g = Value::Given;
        // (condition, value, expected)
        let cases = [
            (r#"{"field":"s","equals":"retail"}"#, g("Retail"), true),
            (r#"{"field":"s","equals":"retail"}"#, g("retail2"), false),
            (r#"{"field":"s","equals":"retail"}"#, Value::Missing, false),
            (r#"{"field":"s","one_of":["a","b"]}"#, g("B"), true),
            (r#"{"field":"s","one_of":["a","b"]}"#, g("c"), false),
            (r#"{"field":"s","exists":true}"#, g("x"), true),
            (r#"{"field":"s","exists":true}"#, Value::Empty, false),
            (r#"{"field":"s","exists":false}"#, Value::Missing, true),
            (r#"{"field":"s","missing":true}"#, Value::Missing, true),
            (r#"{"field":"s","missing":true}"#, Value::Empty, false),
            (r#"{"field":"s","empty":true}"#, Value::Empty, true),
            (r#"{"field":"s","empty":true}"#, g("x"), false),
            (r#"{"field":"s","matches":"^[A-Z]{3}$"}"#, g("ABC"), true),
            (r#"{"field":"s","matches":"^[A-Z]{3}$"}"#, g("ABCD"), false),
            (r#"{"field":"n","gt":10}"#, g("10.5"), true),
            (r#"{"field":"n","gt":10}"#, g("10"), false),
            (r#"{"field":"n","gte":10}"#, g("10"), true),
            (r#"{"field":"n","lt":0}"#, g("-1"), true),
            (r#"{"field":"n","lte":0}"#, g("zero"), false),
            (r#"{"field":"d","before":"now"}"#, g("2026-11-30"), true),
            (r#"{"field":"d","before":"now"}"#, g("2026-12-02"), false),
            // 12:00 UTC is 13:00 in Paris: 12:30 written without offset is before now.
            (
                r#"{"field":"d","before":"now"}"#,
                g("2026-12-01T12:30"),
                true,
            ),
            (
                r#"{"field":"d","after":"now"}"#,
                g("2026-12-01T13:30"),
                true,
            ),
            (r#"{"field":"d","after":"now"}"#, g("not a date"), false),
            (
                r#"{"field":"d","after":"2026-12-24T00:00"}"#,
                g("2026-12-24T18:00"),
                true,
            ),
        ];
        for (json, value, want) in cases {
            assert_eq!(check(&cond(json), value), want, "{json} with {value:?}");
        }
    }

    #[test]
    fn conditions_are_written_back_as_read_and_refuse_nonsense() {
        for json in [
            r#"{"field":"s","equals":"retail"}"#,
            r#"{"field":"n","gte":2.5}"#,
            r#"{"field":"d","before":"now"}"#,
            r#"{"field":"s","matches":"^a"}"#,
        ] {
            assert_eq!(serde_json::to_string(&cond(json)).unwrap(), json);
        }
        for bad in [
            r#"{"field":"s"}"#,
            r#"{"field":"s","equals":"a","exists":true}"#,
            r#"{"field":"s","equal":"a"}"#,
            r#"{"field":"s","matches":"("}"#,
            r#"{"field":"s","one_of":[]}"#,
        ] {
            assert!(serde_json::from_str::<Condition>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn groups_are_or_of_ands() {
        let when: When = serde_json::from_str(
            r#"[[{"field":"a","equals":"1"},{"field":"b","equals":"2"}],[{"field":"c","exists":true}]]"#,
        )
        .unwrap();
        let tz = jiff::tz::TimeZone::UTC;
        let run = |a: &'static str, b: &'static str, c: Value<'static>| {
            let value = move |f: &str| match f {
                "a" => Value::Given(a),
                "b" => Value::Given(b),
                _ => c,
            };
            holds(
                &when,
                &Facts {
                    value: &value,
                    default: &|_| None,
                    now: jiff::Timestamp::UNIX_EPOCH,
                    tz: &tz,
                },
            )
        };
        assert!(run("1", "2", Value::Missing));
        assert!(!run("1", "3", Value::Missing));
        assert!(run("0", "0", Value::Given("x")));
    }

    fn split(weights: &[(&str, u32)]) -> Split {
        Split {
            name: "spring".into(),
            key: "rid".into(),
            weights: weights.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
        }
    }

    #[test]
    fn splits_follow_their_weights_within_one_and_a_half_percent() {
        for weights in [
            &[("a", 5000), ("b", 5000)][..],
            &[("a", 1000), ("b", 9000)],
            &[("a", 2500), ("b", 2500), ("c", 5000)],
        ] {
            let s = split(weights);
            let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
            let n = 100_000;
            for i in 0..n {
                *counts.entry(s.assign(&format!("contact-{i}"))).or_default() += 1;
            }
            for (v, w) in weights {
                let share = counts.get(v).copied().unwrap_or(0) as f64 / n as f64;
                let want = *w as f64 / WHOLE as f64;
                assert!((share - want).abs() <= 0.015, "{v}: {share} for {want}");
            }
        }
    }

    #[test]
    fn assignment_is_stable_and_depends_on_the_split() {
        // Pinned values: a change of hash would move recipients between variants of a
        // running test, so it must be deliberate.
        assert_eq!(bucket("spring", "contact-1"), bucket("spring", "contact-1"));
        assert_ne!(bucket("spring", "contact-1"), bucket("autumn", "contact-1"));
        let s = split(&[("a", 5000), ("b", 5000)]);
        let first: Vec<&str> = (0..8).map(|i| s.assign(&format!("c{i}"))).collect();
        let again: Vec<&str> = (0..8).map(|i| s.assign(&format!("c{i}"))).collect();
        assert_eq!(first, again);
        assert_eq!(bucket("spring", "contact-1"), PINNED_BUCKET);
    }

    const PINNED_BUCKET: u32 = 1443;

    #[test]
    fn rules_choose_in_order_and_stopped_splits_give_the_winner() {
        let rules: Vec<Rule> = serde_json::from_str(
            r#"[
              {"when": [[{"field":"segment","equals":"retail"}]], "variant": "retail"},
              {"split": {"name":"spring","key":"rid","weights":{"a":5000,"b":5000}}},
              {"variant": "default"}
            ]"#,
        )
        .unwrap();
        let tz = jiff::tz::TimeZone::UTC;
        let pick = |segment: Option<&'static str>,
                    rid: Option<&'static str>,
                    stopped: &BTreeMap<String, String>| {
            let value = move |f: &str| {
                let v = if f == "segment" { segment } else { rid };
                v.map_or(Value::Missing, Value::Given)
            };
            choose(
                &rules,
                &Facts {
                    value: &value,
                    default: &|_| None,
                    now: jiff::Timestamp::UNIX_EPOCH,
                    tz: &tz,
                },
                stopped,
            )
        };
        let none = BTreeMap::new();
        assert_eq!(pick(Some("retail"), None, &none).variant, "retail");
        assert_eq!(pick(Some("other"), None, &none).variant, "default");
        let ab = pick(None, Some("c-1"), &none);
        assert!(["a", "b"].contains(&ab.variant.as_str()));
        assert_eq!(ab.split.as_deref(), Some("spring"));
        let stopped = BTreeMap::from([("spring".to_string(), "b".to_string())]);
        for i in 0..20 {
            let key: &'static str = Box::leak(format!("c-{i}").into_boxed_str());
            assert_eq!(pick(None, Some(key), &stopped).variant, "b");
        }
        assert!(
            serde_json::from_str::<Rule>(
                r#"{"variant":"a","split":{"name":"s","key":"k","weights":{}}}"#
            )
            .is_err()
        );
    }
}
