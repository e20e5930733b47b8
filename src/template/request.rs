//! A personalized-image request, decided without I/O: which template the identifier names
//! (`tpl~name~3`, `tpl~name~draft`, sealed `tpl~name~3~<token>`), whether the fields it
//! carries may be used (signature, sealed token, open fields), and what every layer then
//! shows after merge tags, fallbacks and case transforms.

use std::collections::BTreeMap;

use super::fields::{Denylist, Fallback, Field, Segment, Tagged, is_unfilled_tag};
use super::model::{Case, Layer, Template};
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
    /// Unix seconds, for `exp`.
    pub now: u64,
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

/// What each layer shows for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Personalized {
    /// Per layer: the text of a text layer, the identifier of an image layer, `None` for
    /// shapes.
    pub layers: Vec<Option<String>>,
    /// Fields whose value was not used, and why (missing fields are not listed).
    pub fallbacks: Vec<(String, Fallback)>,
    /// The accepted value of each declared field (`None`: its default was used), as one
    /// string: with the template version it decides every pixel, so it goes in the cache key.
    pub normalized: String,
}

/// Resolves every field once, then fills the layers. `fields` are the template's compiled
/// fields.
pub fn personalize(
    template: &Template,
    fields: &BTreeMap<String, Field>,
    inputs: &Inputs,
    policy: &Policy,
) -> Personalized {
    let mut accepted: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    let mut fallbacks = Vec::new();
    for (name, field) in fields {
        let value = inputs.values.get(name).map(String::as_str);
        let check = |v: &str| -> Option<Fallback> {
            if v.chars().count() > policy.max_field_chars {
                Some(Fallback::TooLong)
            } else if is_unfilled_tag(v) {
                Some(Fallback::Unfilled)
            } else if !inputs.trusted && policy.denylist.denies(v) {
                Some(Fallback::Denied)
            } else if !(policy.covers)(v) {
                Some(Fallback::Uncovered)
            } else {
                None
            }
        };
        let (_, why) = field.resolve(value, None, check);
        match why {
            None => {
                accepted.insert(name, value.map(str::trim));
            }
            Some(why) => {
                accepted.insert(name, None);
                if why != Fallback::Missing {
                    fallbacks.push((name.clone(), why));
                }
            }
        }
    }
    let fill = |text: &Tagged| -> String {
        let mut out = String::new();
        for s in text.segments() {
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Tag { field, default } => {
                    match accepted.get(field.as_str()).copied().flatten() {
                        Some(v) => out.push_str(v),
                        None => out.push_str(default.as_deref().unwrap_or_else(|| {
                            fields.get(field).map_or("", |f| f.spec.default.as_str())
                        })),
                    }
                }
            }
        }
        out
    };
    let layers = template
        .layers
        .iter()
        .map(|layer| match layer {
            _ if layer.hidden() => None,
            Layer::Text(t) => Some(transform_case(&fill(&t.text), t.case)),
            Layer::Image(l) => {
                let chosen = fill(&l.source).trim().to_string();
                Some(if chosen.is_empty() || chosen.contains("://") {
                    // Remote pictures are not fetched (no server-side requests to arbitrary
                    // hosts): the layer's default stands in.
                    l.default.clone()
                } else {
                    chosen
                })
            }
            Layer::Shape(_) => None,
        })
        .collect();
    let normalized = serde_json::to_string(&accepted).expect("strings serialise");
    Personalized {
        layers,
        fallbacks,
        normalized,
    }
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
                personalize(&t, &fields, &inputs, p)
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
