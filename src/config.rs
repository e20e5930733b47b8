//! Configuration: the embedded default `config.toml`, an optional file on top, then
//! `TESSERA_<SECTION>_<KEY>` environment variables, then command-line settings.

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use toml::{Table, Value};

use crate::iiif::{Format, Limits};
use crate::pipeline::{EncodeOptions, Filter, RenderOptions};
use crate::template::fields::Denylist;
use crate::template::signing::Keys;

/// The embedded defaults: the repository's `config.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config.toml");

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parse(String, String),
    #[error("--set {0}: expected section.key=value")]
    Setting(String),
    #[error("unknown configuration key '{0}'")]
    UnknownKey(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub source: SourceConfig,
    pub data: DataConfig,
    pub cache: CacheConfig,
    pub admin: AdminConfig,
    pub render: RenderConfig,
    pub image: ImageConfig,
    pub pyramid: PyramidConfig,
    pub templates: TemplatesConfig,
    pub auth: AuthConfig,
    pub usage: UsageConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub session_idle_minutes: u64,
    pub session_absolute_hours: u64,
    pub login_free_failures: u32,
    pub login_address_free_failures: u32,
    pub login_max_delay_seconds: u64,
    pub key_requests_per_minute: u32,
    pub key_burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageConfig {
    pub flush_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: String,
    pub prefix: String,
    pub base_url: String,
    pub workers: usize,
    pub cache_control: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub root: PathBuf,
    pub max_pixels: u64,
    pub tile_memory: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub dir: PathBuf,
    pub memory_entries: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub enabled: bool,
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub max_files: u64,
    pub high_watermark: f64,
    pub low_watermark: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderConfig {
    pub threads: usize,
    pub queue_depth: usize,
    pub queue_timeout_ms: u64,
    pub memory_budget: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Empty: the admin API refuses every request.
    pub token: Secret,
}

/// A secret setting: `Debug` never prints it, nor does a configuration error.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "(unset)"
        } else {
            "<redacted>"
        })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        // Through a TOML value, not `String`: serde's type errors quote what they got (an
        // unquoted numeric token from the environment reads as an integer), printing it.
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Secret(s)),
            _ => Err(D::Error::custom("must be a string")),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    pub max_width: u32,
    pub max_height: u32,
    pub max_area: u64,
    pub tile_size: u32,
    pub sizes_min_edge: u32,
    #[serde(deserialize_with = "from_text")]
    pub resize_filter: Filter,
    pub jpeg_quality: u8,
    pub jpeg_progressive: bool,
    pub jpeg_passthrough: bool,
    pub webp_quality: f32,
    pub png_level: u8,
    #[serde(deserialize_with = "from_texts")]
    pub preferred_formats: Vec<Format>,
}

/// A value written as text, parsed with its `FromStr` (whose error says what is wrong; TOML
/// adds the key).
fn from_text<'de, D: Deserializer<'de>, T: FromStr<Err: Display>>(d: D) -> Result<T, D::Error> {
    String::deserialize(d)?.parse().map_err(D::Error::custom)
}

/// A list of values written as text, each parsed with its `FromStr`.
fn from_texts<'de, D: Deserializer<'de>, T: FromStr<Err: Display>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| s.parse().map_err(D::Error::custom))
        .collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PyramidConfig {
    pub min_pixels: u64,
    pub jpeg_quality: u8,
    pub build_memory: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesConfig {
    /// The URL signing and sealing keys, `None` when none are configured.
    #[serde(deserialize_with = "signing_keys")]
    pub keys: Option<Keys>,
    pub denylist: Words,
    pub denylist_file: PathBuf,
    pub max_field_chars: usize,
    pub max_url_bytes: usize,
    pub renders_per_minute: u32,
    pub fonts_dir: PathBuf,
    pub cache_control: String,
    pub overflow_cache_control: String,
    pub fallback_cache_control: String,
    pub live_seconds: u32,
    pub countdown_frames: u32,
    pub max_upload_bytes: u64,
    pub max_dataset_bytes: usize,
    pub max_dataset_rows: usize,
}

/// `templates.keys`: `"id:secret"` words.
fn signing_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Keys>, D::Error> {
    let items = Words::deserialize(d)?.items();
    if items.is_empty() {
        return Ok(None);
    }
    let mut keys = Vec::new();
    for item in items {
        let (id, secret) = item
            .split_once(':')
            .ok_or_else(|| D::Error::custom("each key is \"id:secret\""))?;
        keys.push((id.trim().to_string(), secret.as_bytes().to_vec()));
    }
    Keys::new(keys).map(Some).map_err(D::Error::custom)
}

/// A list of strings, from TOML as an array or, as environment variables give it, one
/// comma-separated string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Words {
    List(Vec<String>),
    Text(String),
}

impl Words {
    /// The items, trimmed, empty ones dropped.
    pub fn items(&self) -> Vec<String> {
        let all: Vec<&str> = match self {
            Words::List(v) => v.iter().map(String::as_str).collect(),
            Words::Text(t) => t.split(',').collect(),
        };
        all.into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Checked at load: tracing would silently ignore a filter it cannot parse.
    #[serde(deserialize_with = "log_filter")]
    pub level: String,
}

fn log_filter<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let level = String::deserialize(d)?;
    tracing_subscriber::EnvFilter::try_new(&level).map_err(D::Error::custom)?;
    Ok(level)
}

/// Merges `over` into `base`, table by table.
fn merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Reads a setting's text as a TOML value (`8182`, `true`, `["jpg"]`), or as a plain string.
fn value_of(text: &str) -> Value {
    toml::from_str::<Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// Sets `section.key` in `table`, refusing keys the defaults do not have.
fn set(table: &mut Table, key: &str, value: Value) -> Result<(), ConfigError> {
    let (section, name) = key
        .split_once('.')
        .ok_or_else(|| ConfigError::UnknownKey(key.to_string()))?;
    match table.get_mut(section).and_then(Value::as_table_mut) {
        Some(t) if t.contains_key(name) => {
            t.insert(name.to_string(), value);
            Ok(())
        }
        _ => Err(ConfigError::UnknownKey(key.to_string())),
    }
}

/// Where each layer of configuration comes from.
#[derive(Debug, Default)]
pub struct Overrides {
    /// A TOML file read on top of the defaults.
    pub file: Option<PathBuf>,
    /// `section.key=value` settings from the command line, applied last.
    pub settings: Vec<String>,
}

impl Config {
    /// Loads the configuration: defaults, `overrides.file`, the environment `env`, then
    /// `overrides.settings`.
    pub fn load(
        overrides: &Overrides,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: Table = toml::from_str(DEFAULT_TOML)
            .map_err(|e| ConfigError::Parse("embedded config.toml".into(), e.to_string()))?;
        if let Some(path) = &overrides.file {
            let text =
                std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.clone(), e))?;
            let file: Table = toml::from_str(&text)
                .map_err(|e| ConfigError::Parse(path.display().to_string(), e.to_string()))?;
            merge(&mut table, file);
        }
        let env: Vec<(String, String)> = env.into_iter().collect();
        let keys: Vec<(String, String)> = table
            .iter()
            .filter_map(|(s, v)| v.as_table().map(|t| (s, t)))
            .flat_map(|(s, t)| t.keys().map(move |k| (s.clone(), k.clone())))
            .collect();
        for (section, key) in keys {
            let var = format!("TESSERA_{}_{}", section.to_uppercase(), key.to_uppercase());
            if let Some((_, v)) = env.iter().find(|(k, _)| *k == var) {
                set(&mut table, &format!("{section}.{key}"), value_of(v))?;
            }
        }
        for s in &overrides.settings {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| ConfigError::Setting(s.clone()))?;
            set(&mut table, k.trim(), value_of(v.trim()))?;
        }
        let config: Config = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                ConfigError::Parse("configuration".into(), e.to_string())
            })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        if !(self.server.prefix.is_empty() || self.server.prefix.starts_with('/'))
            || self.server.prefix.ends_with('/')
        {
            return invalid(format!(
                "server.prefix '{}' must start with '/' and not end with one",
                self.server.prefix
            ));
        }
        let c = &self.cache;
        if !(0.0 < c.low_watermark && c.low_watermark < c.high_watermark && c.high_watermark <= 1.0)
        {
            return invalid(format!(
                "cache watermarks must satisfy 0 < low_watermark ({}) < high_watermark ({}) <= 1",
                c.low_watermark, c.high_watermark
            ));
        }
        if self.image.tile_size == 0 {
            return invalid("image.tile_size must be positive".into());
        }
        let t = &self.templates;
        if !(1..=60).contains(&t.live_seconds) {
            return invalid("templates.live_seconds must be 1 to 60".into());
        }
        if !(1..=300).contains(&t.countdown_frames) {
            return invalid("templates.countdown_frames must be 1 to 300".into());
        }
        Ok(())
    }

    /// The catalogue database file.
    pub fn catalogue_path(&self) -> PathBuf {
        self.data.dir.join("catalogue.sqlite")
    }

    /// Pyramid derivative settings.
    pub fn pyramid_settings(&self) -> crate::pyramid::PyramidSettings {
        crate::pyramid::PyramidSettings {
            dir: self.data.dir.join("pyramids"),
            min_pixels: self.pyramid.min_pixels,
            tile: self.image.tile_size,
            jpeg_quality: self.pyramid.jpeg_quality,
            max_decode_bytes: self.render_options().max_decode_bytes,
            build_memory: self.pyramid.build_memory,
        }
    }

    /// Cache bounds.
    pub fn cache_limits(&self) -> crate::cache::CacheLimits {
        crate::cache::CacheLimits {
            max_bytes: self.cache.max_bytes,
            max_files: self.cache.max_files,
            high_watermark: self.cache.high_watermark,
            low_watermark: self.cache.low_watermark,
        }
    }

    /// Limits of the render admission gate.
    pub fn admission_limits(&self) -> crate::pipeline::admission::AdmissionLimits {
        let r = &self.render;
        crate::pipeline::admission::AdmissionLimits {
            concurrent: match r.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
            queue_depth: r.queue_depth,
            deadline: std::time::Duration::from_millis(r.queue_timeout_ms),
            memory_budget: r.memory_budget,
        }
    }

    /// Output limits for the planner and info.json.
    pub fn limits(&self) -> Limits {
        let some = |v: u32| (v > 0).then_some(v);
        Limits {
            max_width: some(self.image.max_width),
            max_height: some(self.image.max_height),
            // Never unlimited: an output as large as the largest source is the hard ceiling,
            // so no URL can make the server allocate without bound.
            max_area: Some(match self.image.max_area {
                0 => self.source.max_pixels,
                n => n.min(self.source.max_pixels),
            }),
        }
    }

    /// Pipeline settings.
    pub fn render_options(&self) -> RenderOptions {
        RenderOptions {
            filter: self.image.resize_filter,
            encode: EncodeOptions {
                jpeg_quality: self.image.jpeg_quality,
                jpeg_progressive: self.image.jpeg_progressive,
                webp_quality: self.image.webp_quality,
                png_level: self.image.png_level,
            },
            jpeg_passthrough: self.image.jpeg_passthrough,
            // Up to 16-bit RGBA for every allowed pixel, plus room for one working copy.
            max_decode_bytes: self.source.max_pixels.saturating_mul(16),
        }
    }

    /// Resolves relative paths against `base` (the working directory).
    pub fn with_paths_under(mut self, base: &Path) -> Config {
        self.source.root = base.join(&self.source.root);
        self.data.dir = base.join(&self.data.dir);
        self.cache.dir = base.join(&self.cache.dir);
        for p in [
            &mut self.templates.fonts_dir,
            &mut self.templates.denylist_file,
        ] {
            if !p.as_os_str().is_empty() {
                *p = base.join(&*p);
            }
        }
        self
    }

    /// The word denylist: `templates.denylist` and the words of `templates.denylist_file`.
    pub fn denylist(&self) -> Result<Denylist, String> {
        let mut words = self.templates.denylist.items();
        let file = &self.templates.denylist_file;
        if !file.as_os_str().is_empty() {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("templates.denylist_file {}: {e}", file.display()))?;
            words.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or_default().trim().to_string())
                    .filter(|w| !w.is_empty()),
            );
        }
        Ok(Denylist::new(words))
    }

    /// The extra font folder, when set.
    pub fn fonts_dir(&self) -> Option<&Path> {
        let dir = &self.templates.fonts_dir;
        (!dir.as_os_str().is_empty()).then_some(dir.as_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load() {
        let c = Config::load(&Overrides::default(), env(&[])).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:8182");
        assert_eq!(c.server.prefix, "/iiif/3");
        assert_eq!(c.source.root, PathBuf::from("sample-images"));
        assert_eq!(c.limits().max_width, None);
        assert_eq!(c.limits().max_area, Some(40_000_000));
        let unlimited = Overrides {
            file: None,
            settings: vec!["image.max_area=0".into(), "source.max_pixels=1000".into()],
        };
        assert_eq!(
            Config::load(&unlimited, env(&[]))
                .unwrap()
                .limits()
                .max_area,
            Some(1000)
        );
    }

    #[test]
    fn layers_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[image]\njpeg_quality = 70\nwebp_quality = 50\n").unwrap();
        let overrides = Overrides {
            file: Some(file),
            settings: vec!["image.webp_quality=60".into()],
        };
        let c = Config::load(
            &overrides,
            env(&[
                ("TESSERA_IMAGE_JPEG_QUALITY", "75"),
                ("TESSERA_IMAGE_WEBP_QUALITY", "55"),
                ("TESSERA_IMAGE_PREFERRED_FORMATS", "[\"webp\"]"),
                ("TESSERA_SERVER_BASE_URL", "https://x.org/iiif"),
            ]),
        )
        .unwrap();
        assert_eq!(c.image.jpeg_quality, 75);
        assert_eq!(c.image.webp_quality, 60.0);
        assert_eq!(c.image.preferred_formats, vec![Format::Webp]);
        assert_eq!(c.server.base_url, "https://x.org/iiif");
    }

    fn set(s: &str) -> Overrides {
        Overrides {
            file: None,
            settings: vec![s.into()],
        }
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(matches!(
            Config::load(&set("image.nope=1"), env(&[])),
            Err(ConfigError::UnknownKey(_))
        ));
        assert!(matches!(
            Config::load(&set("image.jpeg_quality"), env(&[])),
            Err(ConfigError::Setting(_))
        ));
        assert!(matches!(
            Config::load(&set("server.prefix=iiif"), env(&[])),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            Config::load(&set("image.jpeg_quality=\"high\""), env(&[])),
            Err(ConfigError::Parse(..))
        ));
    }

    #[test]
    fn typed_settings_are_parsed_at_load_and_errors_name_the_key() {
        let c = Config::load(&set("image.resize_filter=\"mitchell\""), env(&[])).unwrap();
        assert_eq!(c.render_options().filter, Filter::Mitchell);
        for (setting, key, why) in [
            ("image.resize_filter=cubic", "image.resize_filter", "cubic"),
            (
                "image.preferred_formats=[\"jpg\", \"bmp\"]",
                "image.preferred_formats",
                "bmp",
            ),
            ("templates.keys=k1:short", "templates.keys", "32 bytes"),
            ("templates.keys=nocolon", "templates.keys", "id:secret"),
            (
                "templates.keys=[\"a b:12345678901234567890123456789012\"]",
                "templates.keys",
                "a b",
            ),
            ("log.level=\"tessera=loud\"", "log.level", "level filter"),
        ] {
            let err = Config::load(&set(setting), env(&[]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key) && err.contains(why), "{setting}: {err}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let token = "admin-token-admin-token";
        let secret = "k".repeat(40);
        let c = Config::load(
            &Overrides::default(),
            env(&[
                ("TESSERA_ADMIN_TOKEN", token),
                ("TESSERA_TEMPLATES_KEYS", &format!("k1:{secret}")),
            ]),
        )
        .unwrap();
        assert_eq!(c.admin.token.as_bytes(), token.as_bytes());
        let printed = format!("{c:?}");
        assert!(
            !printed.contains(token) && !printed.contains(&secret),
            "{printed}"
        );
        assert!(printed.contains("<redacted>") && printed.contains("k1"));
        let unset = Config::load(&Overrides::default(), env(&[])).unwrap();
        assert_eq!(format!("{:?}", unset.admin.token), "(unset)");
        // A token that reads as a number is refused without being quoted.
        let err = Config::load(
            &Overrides::default(),
            env(&[("TESSERA_ADMIN_TOKEN", "918273645")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("admin.token") && !err.contains("918273645"),
            "{err}"
        );
    }

    #[test]
    fn template_keys_and_denylist_from_the_environment() {
        let secret = "s".repeat(32);
        let c = Config::load(
            &Overrides::default(),
            env(&[
                (
                    "TESSERA_TEMPLATES_KEYS",
                    &format!("k2:{secret}, k1:{secret}"),
                ),
                ("TESSERA_TEMPLATES_DENYLIST", "scam,Spam"),
            ]),
        )
        .unwrap();
        let keys = c.templates.keys.as_ref().unwrap();
        assert_eq!(format!("{keys:?}"), r#"Keys { ids: ["k2", "k1"] }"#);
        assert!(!format!("{:?}", c.templates).contains(&secret));
        assert!(c.denylist().unwrap().denies("SPAM offer"));
        let none = Config::load(&Overrides::default(), env(&[])).unwrap();
        assert!(none.templates.keys.is_none());
    }
}
