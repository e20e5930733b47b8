//! A personalized-image request, decided without I/O: which template the identifier names
//! (`tpl~name~3`, `tpl~name~draft`, sealed `tpl~name~3~<token>`), whether the fields it
//! carries may be used (signature, sealed token, open fields), which variant the rules choose,
//! which layers their conditions show, and what every layer then shows after merge tags,
//! fallbacks, filters and case transforms.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::fields::{Denylist, Fallback, Field, FilterContext, Segment, Tagged, is_unfilled_tag};
use super::model::{Case, LayerKind, Template};
use super::rules::{self, BASE, Chosen, Facts, Value};
use super::signing::{Keys, Refused, unseal, verify};

/// Identifiers of personalized images start with this.
pub const PREFIX: &str = "tpl~";

/// Which state of a template is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    Version(u32),
    /// The editable draft: admin only, watermarked, never cached.
    Draft,
}

/// A template identifier, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateId {
    pub name: String,
    pub pin: Pin,
    /// A sealed token carrying the fields.
    pub token: Option<String>,
}

impl TemplateId {
    /// Parses `identifier`: `None` when it is not a template identifier at all, else the
    /// parsed form or why it is malformed.
    pub fn parse(identifier: &str) -> Option<Result<TemplateId, &'static str>> {
        let rest = identifier.strip_prefix(PREFIX)?;
        let parts: Vec<&str> = rest.split('~').collect();
        let parsed = match parts[..] {
            [name, pin] => Self::build(name, pin, None),
            [name, pin, token] if !token.is_empty() => Self::build(name, pin, Some(token)),
            _ => Err(
                "expected tpl~{name}~{version}, tpl~{name}~draft or tpl~{name}~{version}~{token}",
            ),
        };
        Some(parsed)
    }

    fn build(name: &str, pin: &str, token: Option<&str>) -> Result<TemplateId, &'static str> {
        if !valid_qualified(name) {
            return Err(
                "template names are 1 to 64 letters, digits, '-' or '_', after 'project.' outside the default project",
            );
        }
        let pin = match pin {
            "draft" if token.is_none() => Pin::Draft,
            "draft" => return Err("drafts cannot be sealed"),
            v => match v.parse::<u32>() {
                Ok(n) if n > 0 && !v.starts_with('0') => Pin::Version(n),
                _ => return Err("the version is a positive number or 'draft'"),
            },
        };
        Ok(TemplateId {
            name: name.to_string(),
            pin,
            token: token.map(str::to_string),
        })
    }

    /// What a sealed token is bound to: `name~version`.
    pub fn bound_to(&self) -> String {
        match self.pin {
            Pin::Version(v) => format!("{}~{v}", self.name),
            Pin::Draft => format!("{}~draft", self.name),
        }
    }
}

/// Whether `name` is a valid qualified template name: `name` (the default project) or
/// `project.name` ([`crate::team::qualified`]). `default.name` is refused: the default
/// project's templates have one name only, so their URLs and cache entries stay as they were.
pub fn valid_qualified(name: &str) -> bool {
    match name.split_once('.') {
        Some((project, name)) => {
            project != crate::team::DEFAULT_PROJECT
                && crate::team::valid_project(project)
                && valid_name(name)
        }
        None => valid_name(name),
    }
}

/// Whether `name` is a valid template name: 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Server policy for field values.
pub struct Policy<'a> {
    /// Signing keys; `None` when none are configured (then only open fields can be set).
    pub keys: Option<&'a Keys>,
    /// Applied to values that arrive unsigned.
    pub denylist: &'a Denylist,
    /// Whether the fonts can draw a text (see `overlay::Coverage`).
    pub covers: &'a dyn Fn(&str) -> bool,
    /// Longest value accepted for any field, in characters, whatever the template says.
    pub max_field_chars: usize,
    /// Unix seconds: for `exp`, conditions on dates and countdowns.
    pub now: u64,
}

/// A template's data-set row for this request, as looked up at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row<'a> {
    /// The template has no data set, or the request no key.
    None,
    /// The key names no row: the fields fall back.
    NotFound,
    /// The row's values by column; they are the server's own, so trusted.
    Found(&'a BTreeMap<String, String>),
}

/// Field values a request may use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inputs {
    pub values: BTreeMap<String, String>,
    /// Signed or sealed: the denylist does not apply.
    pub trusted: bool,
}

/// Reads the fields of a request: from the sealed token, or from the query, where setting a
/// field that is not `open` — or sending any `sig` — needs a valid signature over `path`
/// and the query. Drafts take every declared field unsigned: only those who may preview are
/// answered a draft (checked at the edge), and a preview must show every field.
pub fn inputs(
    template: &Template,
    id: &TemplateId,
    path: &str,
    query: &[(String, String)],
    policy: &Policy,
) -> Result<Inputs, Refused> {
    if let Some(token) = &id.token {
        let keys = policy.keys.ok_or(Refused::UnknownKey)?;
        let sealed = unseal(keys, &id.bound_to(), token, policy.now)?;
        return Ok(Inputs {
            values: declared(template, sealed.fields),
            trusted: true,
        });
    }
    // First occurrence wins; the signature covers every pair anyway.
    let mut given = BTreeMap::new();
    for (k, v) in query {
        if template.fields.contains_key(k) && !given.contains_key(k) {
            given.insert(k.clone(), v.clone());
        }
    }
    if id.pin == Pin::Draft {
        return Ok(Inputs {
            values: given,
            trusted: false,
        });
    }
    let signed = query.iter().any(|(k, _)| k == "sig");
    let needs_signature = given.keys().any(|k| !template.fields[k].open);
    if signed || needs_signature {
        let keys = policy.keys.ok_or(Refused::UnknownKey)?;
        verify(keys, path, query, policy.now)?;
    }
    Ok(Inputs {
        values: given,
        trusted: signed,
    })
}

/// Only the fields the template declares.
fn declared(template: &Template, values: BTreeMap<String, String>) -> BTreeMap<String, String> {
    values
        .into_iter()
        .filter(|(k, _)| template.fields.contains_key(k))
        .collect()
}

/// What personalization decided for one request.
#[derive(Debug, Clone)]
pub struct Personalized {
    /// The document drawn: the chosen variant, with layers whose conditions fail hidden.
    pub template: Arc<Template>,
    /// The variant, and the split that assigned it.
    pub chosen: Chosen,
    /// Per layer at the time of the request: the text of a text layer, the data of a QR
    /// code, the identifier of an image layer, `None` for shapes and hidden layers.
    pub layers: Vec<Option<String>>,
    /// Fields whose value was not used, and why (missing fields are not listed).
    pub fallbacks: Vec<(String, Fallback)>,
    /// The accepted value of each declared field (`None`: its default was used), and the
    /// variant and shown layers when the template has rules or conditions, as one string:
    /// with the template version it decides every pixel, so it goes in the cache key.
    pub normalized: String,
    /// The variant and the layers shown, e.g. `retail:1101`; empty for a template without
    /// variants or conditions. Keys what is drawn once per shape (the underlay).
    pub shape: String,
    accepted: BTreeMap<String, Option<String>>,
    now: i64,
}

/// Resolves every field once, chooses the variant and the layers shown, then fills them.
/// `fields` are the template's compiled fields, `variants` its documents by variant name
/// ([`BASE`] included), `stopped` its stopped splits and their winners.
pub fn personalize(
    template: &Template,
    fields: &BTreeMap<String, Field>,
    variants: &BTreeMap<String, Arc<Template>>,
    stopped: &BTreeMap<String, String>,
    (inputs, row): (&Inputs, Row),
    policy: &Policy,
) -> Personalized {
    let mut accepted: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut states: BTreeMap<&str, Value> = BTreeMap::new();
    let mut fallbacks = Vec::new();
    let key = template.data.as_ref().map(|d| d.key.as_str());
    if row == Row::NotFound
        && let Some(key) = key
    {
        fallbacks.push((key.to_string(), Fallback::NoRecord));
    }
    for (name, field) in fields {
        let from_row = match row {
            Row::Found(values) if Some(name.as_str()) != key => values.get(name),
            _ => None,
        };
        let trusted = inputs.trusted || from_row.is_some();
        let value = from_row
            .or_else(|| inputs.values.get(name))
            .map(String::as_str);
        let check = |v: &str| -> Option<Fallback> {
            if v.chars().count() > policy.max_field_chars {
                Some(Fallback::TooLong)
            } else if is_unfilled_tag(v) {
                Some(Fallback::Unfilled)
            } else if !trusted && policy.denylist.denies(v) {
                Some(Fallback::Denied)
            } else if !(policy.covers)(v) {
                Some(Fallback::Uncovered)
            } else {
                None
            }
        };
        let (_, why) = field.resolve(value, None, check);
        let state = match why {
            None => Value::Given(value.map_or("", str::trim)),
            Some(Fallback::Empty) => Value::Empty,
            Some(_) => Value::Missing,
        };
        accepted.insert(
            name.clone(),
            match state {
                Value::Given(v) => Some(v.to_string()),
                _ => None,
            },
        );
        states.insert(name, state);
        if let Some(why) = why
            && why != Fallback::Missing
        {
            fallbacks.push((name.clone(), why));
        }
    }
    let tz = template.tz();
    let now = policy.now.min(i64::MAX as u64) as i64;
    let timestamp = jiff::Timestamp::from_second(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let value = |f: &str| states.get(f).copied().unwrap_or(Value::Missing);
    let default = |f: &str| fields.get(f).map(|field| field.spec.default.as_str());
    let facts = Facts {
        value: &value,
        default: &default,
        now: timestamp,
        tz: &tz,
    };
    let chosen = rules::choose(&template.rules, &facts, stopped);
    let drawn = variants
        .get(&chosen.variant)
        .cloned()
        .unwrap_or_else(|| Arc::new(template.clone()));
    let shown: Vec<bool> = drawn
        .layers
        .iter()
        .map(|l| !l.hidden && l.when.as_ref().is_none_or(|w| rules::holds(w, &facts)))
        .collect();
    let conditional = drawn.layers.iter().any(|l| l.when.is_some());
    let drawn = if shown
        .iter()
        .zip(&drawn.layers)
        .any(|(s, l)| !s && !l.hidden)
    {
        let mut t = (*drawn).clone();
        for (layer, shown) in t.layers.iter_mut().zip(&shown) {
            layer.hidden = !shown;
        }
        Arc::new(t)
    } else {
        drawn
    };
    let shape = if template.rules.is_empty() && !conditional {
        String::new()
    } else {
        let mask: String = shown.iter().map(|s| if *s { '1' } else { '0' }).collect();
        format!("{}:{mask}", chosen.variant)
    };
    let mut normalized = serde_json::to_string(&accepted).expect("strings serialise");
    if !shape.is_empty() {
        normalized.push('\n');
        normalized.push_str(&shape);
    }
    let mut out = Personalized {
        template: drawn,
        chosen,
        layers: Vec::new(),
        fallbacks,
        normalized,
        shape,
        accepted,
        now,
    };
    out.layers = out.layers_at(fields, 0);
    out
}

impl Personalized {
    /// Whether any field shows a value of the request's (not only defaults).
    pub fn any_accepted(&self) -> bool {
        self.accepted.values().any(Option::is_some)
    }

    /// What each layer shows `seconds` after the request: the frames of a countdown.
    pub fn layers_at(&self, fields: &BTreeMap<String, Field>, seconds: i64) -> Vec<Option<String>> {
        let template = &self.template;
        let tz = template.tz();
        let cx = FilterContext {
            locale: template.locale.unwrap_or_default(),
            tz: &tz,
            now: jiff::Timestamp::from_second(self.now.saturating_add(seconds))
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        };
        let fill = |text: &Tagged| -> String {
            let mut out = String::new();
            for s in text.segments() {
                match s {
                    Segment::Literal(l) => out.push_str(l),
                    Segment::Tag {
                        field,
                        default,
                        filters,
                    } => {
                        let shown = match self.accepted.get(field).and_then(Option::as_deref) {
                            Some(v) => v,
                            None => default.as_deref().unwrap_or_else(|| {
                                fields.get(field).map_or("", |f| f.spec.default.as_str())
                            }),
                        };
                        let filtered = filters
                            .iter()
                            .fold(shown.to_string(), |t, f| f.apply(&t, &cx));
                        out.push_str(&filtered);
                    }
                }
            }
            out
        };
        template
            .layers
            .iter()
            .map(|layer| match &layer.kind {
                _ if layer.hidden => None,
                LayerKind::Text(t) => Some(transform_case(&fill(&t.text), t.case)),
                LayerKind::Qr(q) => Some(fill(&q.data)),
                LayerKind::Image(l) => {
                    let chosen = fill(&l.source).trim().to_string();
                    Some(if chosen.is_empty() || chosen.contains("://") {
                        // Remote pictures are not fetched (no server-side requests to
                        // arbitrary hosts): the layer's default stands in.
                        l.default.clone()
                    } else {
                        chosen
                    })
                }
                LayerKind::Shape(_) => None,
            })
            .collect()
    }
}

/// Every variant's document, [`BASE`] included, checked when the template was saved.
pub fn compile_variants(template: &Template) -> BTreeMap<String, Arc<Template>> {
    std::iter::once(BASE)
        .chain(template.variants.keys().map(String::as_str))
        .filter_map(|name| {
            template
                .with_variant(name)
                .ok()
                .map(|t| (name.to_string(), Arc::new(t)))
        })
        .collect()
}

/// Applies a text layer's case transform. Title case capitalises the first letter of each
/// word and leaves the rest as typed (McDonald stays McDonald).
pub fn transform_case(text: &str, case: Case) -> String {
    match case {
        Case::None => text.to_string(),
        Case::Upper => text.to_uppercase(),
        Case::Lower => text.to_lowercase(),
        Case::Title => {
            let mut out = String::with_capacity(text.len());
            let mut start = true;
            for c in text.chars() {
                if start && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = c.is_whitespace() || c == '-';
            }
            out
        }
    }
}

/// The template's fields, compiled.
pub fn compile_fields(template: &Template) -> BTreeMap<String, Field> {
    template
        .fields
        .iter()
        .filter_map(|(k, spec)| Field::new(spec.clone()).ok().map(|f| (k.clone(), f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::model::parse_template;
    use crate::template::signing::{Sealed, seal, sign};

    fn template() -> Template {
        parse_template(
            br##"{"canvas": {"width": 600, "height": 300, "background": "#000"},
              "fields": {
                "name": {"open": true, "max_length": 20, "default": "there"},
                "company": {"default": "your team"},
                "photo": {"kind": "url", "default": "reps/default"}
              },
              "layers": [
                {"type": "text", "box": {"x": 0, "y": 0, "width": 600, "height": 100},
                 "text": "Hi {{ name | default: \"friend\" }} from {{ company }}", "font": "Noto Sans",
                 "size": 40, "case": "title"},
                {"type": "image", "box": {"x": 0, "y": 100, "width": 100, "height": 100},
                 "source": "{{ photo }}", "default": "reps/fallback"},
                {"type": "shape", "box": {"x": 0, "y": 0, "width": 1, "height": 1},
                 "shape": "rect", "fill": "#fff"}
              ]}"##,
        )
        .unwrap()
    }

    fn keys() -> Keys {
        Keys::new(vec![("k1".into(), vec![7; 32])]).unwrap()
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn with_policy<T>(deny: &[&str], f: impl FnOnce(&Policy) -> T) -> T {
        let keys = keys();
        let denylist = Denylist::new(deny.iter().copied());
        let covers = |s: &str| !s.contains('李');
        f(&Policy {
            keys: Some(&keys),
            denylist: &denylist,
            covers: &covers,
            max_field_chars: 256,
            now: 1_000,
        })
    }

    const PATH: &str = "/iiif/3/tpl~t~1/full/max/0/default.jpg";

    fn id() -> TemplateId {
        TemplateId::parse("tpl~t~1").unwrap().unwrap()
    }

    #[test]
    fn identifiers() {
        assert_eq!(TemplateId::parse("coffee"), None);
        assert_eq!(id().pin, Pin::Version(1));
        let draft = TemplateId::parse("tpl~t~draft").unwrap().unwrap();
        assert_eq!(draft.pin, Pin::Draft);
        let sealed = TemplateId::parse("tpl~t~12~k1.abc").unwrap().unwrap();
        assert_eq!(sealed.token.as_deref(), Some("k1.abc"));
        assert_eq!(sealed.bound_to(), "t~12");
        for bad in [
            "tpl~",
            "tpl~t",
            "tpl~t~0",
            "tpl~t~01",
            "tpl~t~x",
            "tpl~t~draft~tok",
            "tpl~a b~1",
            "tpl~default.t~1",
            "tpl~Emea.t~1",
            "tpl~a.b.c~1",
            "tpl~t~1~",
        ] {
            assert!(TemplateId::parse(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn open_fields_need_no_signature_others_do() {
        let t = template();
        with_policy(&[], |p| {
            let ok = inputs(&t, &id(), PATH, &q(&[("name", "ana"), ("utm", "x")]), p).unwrap();
            assert_eq!(ok.values.len(), 1, "undeclared parameters are ignored");
            assert!(!ok.trusted);
            assert_eq!(
                inputs(&t, &id(), PATH, &q(&[("company", "Acme")]), p),
                Err(Refused::Missing)
            );
            let mut query = q(&[("company", "Acme"), ("name", "ana")]);
            let sig = sign(p.keys.unwrap(), PATH, &query);
            query.push(("sig".into(), sig));
            assert!(inputs(&t, &id(), PATH, &query, p).unwrap().trusted);
            query[0].1 = "Evil Corp".into();
            assert_eq!(inputs(&t, &id(), PATH, &query, p), Err(Refused::Tampered));
        });
    }

    #[test]
    fn drafts_take_every_declared_field_unsigned_and_untrusted() {
        let t = template();
        let draft = TemplateId::parse("tpl~t~draft").unwrap().unwrap();
        with_policy(&[], |p| {
            let got = inputs(&t, &draft, PATH, &q(&[("company", "Acme"), ("x", "y")]), p).unwrap();
            assert_eq!(got.values.len(), 1, "undeclared parameters are ignored");
            assert_eq!(got.values["company"], "Acme");
            assert!(!got.trusted, "the denylist still applies to previews");
        });
    }

    #[test]
    fn sealed_fields_come_from_the_token_only() {
        let t = template();
        with_policy(&[], |p| {
            let fields = BTreeMap::from([("company".to_string(), "Acme".to_string())]);
            let token = seal(p.keys.unwrap(), "t~1", &Sealed { fields, exp: None });
            let sealed = TemplateId::parse(&format!("tpl~t~1~{token}"))
                .unwrap()
                .unwrap();
            let got = inputs(&t, &sealed, PATH, &q(&[("company", "Other")]), p).unwrap();
            assert_eq!(got.values["company"], "Acme");
            let other = TemplateId::parse(&format!("tpl~t~2~{token}"))
                .unwrap()
                .unwrap();
            assert_eq!(inputs(&t, &other, PATH, &[], p), Err(Refused::Tampered));
        });
    }

    #[test]
    fn layers_are_filled_with_fallbacks() {
        let t = template();
        let fields = compile_fields(&t);
        with_policy(&["scam"], |p| {
            let run = |pairs: &[(&str, &str)], trusted| {
                let inputs = Inputs {
                    values: q(pairs).into_iter().collect(),
                    trusted,
                };
                personalize(
                    &t,
                    &fields,
                    &compile_variants(&t),
                    &BTreeMap::new(),
                    (&inputs, Row::None),
                    p,
                )
            };
            let all_defaults = run(&[], false);
            assert_eq!(
                all_defaults.layers,
                [
                    Some("Hi Friend From Your Team".into()),
                    Some("reps/default".into()),
                    None
                ]
            );
            assert!(all_defaults.fallbacks.is_empty());
            let named = run(&[("name", "ana maría"), ("photo", "reps/ana")], false);
            assert_eq!(
                named.layers[0].as_deref(),
                Some("Hi Ana María From Your Team")
            );
            assert_eq!(named.layers[1].as_deref(), Some("reps/ana"));
            assert_ne!(named.normalized, all_defaults.normalized);
            let denied = run(&[("name", "Scam")], false);
            assert_eq!(denied.layers[0], all_defaults.layers[0]);
            assert_eq!(denied.fallbacks, [("name".to_string(), Fallback::Denied)]);
            assert_eq!(
                denied.normalized, all_defaults.normalized,
                "same pixels, same key"
            );
            assert_eq!(
                run(&[("name", "Scam")], true).layers[0].as_deref(),
                Some("Hi Scam From Your Team")
            );
            let uncovered = run(&[("name", "李")], true);
            assert_eq!(
                uncovered.fallbacks,
                [("name".to_string(), Fallback::Uncovered)]
            );
            let long = run(&[("name", &"x".repeat(21))], false);
            assert_eq!(long.fallbacks, [("name".to_string(), Fallback::TooLong)]);
            let unfilled = run(&[("name", "*|FNAME|*")], false);
            assert_eq!(unfilled.layers[0], all_defaults.layers[0]);
            assert_eq!(
                unfilled.fallbacks,
                [("name".to_string(), Fallback::Unfilled)]
            );
            let remote = run(&[("photo", "https://evil.example/x.jpg")], false);
            assert_eq!(remote.layers[1].as_deref(), Some("reps/fallback"));
        });
    }

    #[test]
    fn case_transforms() {
        assert_eq!(
            transform_case("jean-luc o'neil", Case::Title),
            "Jean-Luc O'neil"
        );
        assert_eq!(transform_case("straße", Case::Upper), "STRASSE");
        assert_eq!(transform_case("ÉCOLE", Case::Lower), "école");
        assert_eq!(transform_case("McDonald", Case::Title), "McDonald");
    }
}
