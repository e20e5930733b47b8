//! Configuration: the embedded default `config.toml`, an optional file on top, then
//! `TESSERA_<SECTION>_<KEY>` environment variables, then command-line settings.

use std::path::{Path, PathBuf};

use serde::Deserialize;
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
    pub log: LogConfig,
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
    pub token: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    pub max_width: u32,
    pub max_height: u32,
    pub max_area: u64,
    pub tile_size: u32,
    pub sizes_min_edge: u32,
    pub resize_filter: String,
    pub jpeg_quality: u8,
    pub jpeg_progressive: bool,
    pub jpeg_passthrough: bool,
    pub webp_quality: f32,
    pub png_level: u8,
    pub preferred_formats: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PyramidConfig {
    pub min_pixels: u64,
    pub jpeg_quality: u8,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesConfig {
    pub keys: Words,
    pub denylist: Words,
    pub denylist_file: PathBuf,
    pub max_field_chars: usize,
    pub max_url_bytes: usize,
    pub renders_per_minute: u32,
    pub fonts_dir: PathBuf,
    pub cache_control: String,
}

impl std::fmt::Debug for TemplatesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("TemplatesConfig")
            .field("keys", &self.keys.items().len())
            .field("max_field_chars", &self.max_field_chars)
            .field("max_url_bytes", &self.max_url_bytes)
            .field("renders_per_minute", &self.renders_per_minute)
            .finish_non_exhaustive()
    }
}

/// A list of strings, from TOML as an array or, as environment variables give it, one
/// comma-separated string.
#[derive(Clone, Deserialize)]
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
    pub level: String,
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
        self.filter().map_err(ConfigError::Invalid)?;
        self.signing_keys().map_err(ConfigError::Invalid)?;
        self.preferred_formats().map_err(ConfigError::Invalid)?;
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

    fn filter(&self) -> Result<Filter, String> {
        self.image.resize_filter.parse()
    }

    /// `image.preferred_formats` as formats.
    pub fn preferred_formats(&self) -> Result<Vec<Format>, String> {
        self.image
            .preferred_formats
            .iter()
            .map(|f| {
                f.parse()
                    .map_err(|e| format!("image.preferred_formats: {e}"))
            })
            .collect()
    }

    /// Pipeline settings.
    pub fn render_options(&self) -> RenderOptions {
        RenderOptions {
            filter: self.filter().expect("validated at load"),
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

    /// The URL signing and sealing keys, `None` when none are configured.
    pub fn signing_keys(&self) -> Result<Option<Keys>, String> {
        let items = self.templates.keys.items();
        if items.is_empty() {
            return Ok(None);
        }
        let mut keys = Vec::new();
        for item in items {
            let (id, secret) = item
                .split_once(':')
                .ok_or("templates.keys: each key is \"id:secret\"")?;
            keys.push((id.trim().to_string(), secret.as_bytes().to_vec()));
        }
        Keys::new(keys)
            .map(Some)
            .map_err(|e| format!("templates.keys: {e}"))
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
        assert_eq!(c.image.preferred_formats, vec!["webp"]);
        assert_eq!(c.server.base_url, "https://x.org/iiif");
    }

    #[test]
    fn mistakes_are_reported() {
        let o = |s: &str| Overrides {
            file: None,
            settings: vec![s.into()],
        };
        assert!(matches!(
            Config::load(&o("image.nope=1"), env(&[])),
            Err(ConfigError::UnknownKey(_))
        ));
        assert!(matches!(
            Config::load(&o("image.jpeg_quality"), env(&[])),
            Err(ConfigError::Setting(_))
        ));
        assert!(matches!(
            Config::load(&o("image.resize_filter=cubic"), env(&[])),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            Config::load(&o("server.prefix=iiif"), env(&[])),
            Err(ConfigError::Invalid(_))
        ));
        assert!(matches!(
            Config::load(&o("image.jpeg_quality=\"high\""), env(&[])),
            Err(ConfigError::Parse(..))
        ));
        assert!(matches!(
            Config::load(&o("templates.keys=k1:short"), env(&[])),
            Err(ConfigError::Invalid(_))
        ));
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
        let keys = c.signing_keys().unwrap().unwrap();
        assert_eq!(format!("{keys:?}"), r#"Keys { ids: ["k2", "k1"] }"#);
        assert!(!format!("{:?}", c.templates).contains(&secret));
        assert!(c.denylist().unwrap().denies("SPAM offer"));
        let none = Config::load(&Overrides::default(), env(&[])).unwrap();
        assert!(none.signing_keys().unwrap().is_none());
    }
}
