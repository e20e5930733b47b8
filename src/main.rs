//! The `tessera` binary: a thin command line over the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use tessera::access::{Access, commands};
use tessera::cache::{DerivativeCache, DiskCache, scan_stats};
use tessera::clock::{Clock, SystemClock};
use tessera::config::{Config, Overrides};
use tessera::dataset::table::{self, Format, Limits, TableError};
use tessera::dataset::valid_set_name;
use tessera::ingest::{Outcome, identifier_of, image_files, ingest};
use tessera::pyramid::{FilePyramidStore, Pyramids};
use tessera::render::{purge, purge_rows};
use tessera::source::{FileStore, SourceStore};
use tessera::store::Sources;
use tessera::store::audit::AuditFilter;
use tessera::store::datasets::{DataSetStore, Mode, Upload};
use tessera::store::team::TeamStore;
use tessera::store::templates::TemplateStore;
use tessera::team::{DEFAULT_PROJECT, Role, split_qualified};
use tessera::template::batch::{BatchError, SealJob, seal_csv};
use tessera::template::model::parse_template;
use tessera::template::signing::parse_keys;
use tessera::usage::{Usage, UsageFilter, to_csv as usage_csv};

#[derive(Parser)]
#[command(name = "tessera", version, about = "A IIIF Image API 3.0 image server")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(Args)]
struct Common {
    /// Configuration file read on top of the embedded defaults.
    #[arg(long, global = true, env = "TESSERA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Folder of source images (source.root).
    #[arg(long, global = true, env = "TESSERA_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    /// Folder for the catalogue (data.dir).
    #[arg(long, global = true, env = "TESSERA_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Folder of the derivative cache (cache.dir).
    #[arg(long, global = true, env = "TESSERA_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Any configuration key, e.g. --set image.jpeg_quality=90 (repeatable).
    #[arg(long = "set", global = true, value_name = "SECTION.KEY=VALUE")]
    settings: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the IIIF Image API.
    Serve {
        /// Address and port to listen on (server.bind).
        #[arg(long, env = "TESSERA_BIND", value_name = "ADDR:PORT")]
        bind: Option<String>,
    },
    /// Catalogue every image below DIR (default: the image root), reading headers only.
    /// Re-running it re-reads only what changed.
    Ingest {
        /// A folder inside the image root.
        dir: Option<PathBuf>,
    },
    /// Turn a CSV of recipients into the same CSV with a `url` column: each row's fields
    /// sealed (encrypted and authenticated) into the identifier of a published template
    /// version, so no personal data shows in the URL.
    Seal {
        /// Template name.
        name: String,
        /// Published version number.
        version: u32,
        /// The recipients: a header row naming fields (other columns pass through). Default:
        /// standard input.
        #[arg(long, value_name = "CSV")]
        input: Option<PathBuf>,
        /// Where to write the result. Default: standard output.
        #[arg(long, value_name = "CSV")]
        output: Option<PathBuf>,
        /// Public URL of the IIIF prefix. Default: server.base_url, else http://{bind}{prefix}.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// The image request after the identifier.
        #[arg(long, default_value = "full/max/0/default.jpg")]
        request: String,
        /// Seconds the URLs stay valid. Default: forever (emails live for years).
        #[arg(long, value_name = "SECONDS")]
        valid_for: Option<u64>,
        /// Leave bad rows (wrong number of cells, bad UTF-8) out and list them on standard
        /// error. Without it, any bad row fails the list and nothing is written.
        #[arg(long)]
        skip_bad_rows: bool,
    },
    /// Recipient data sets: tables keyed by an opaque id that templates look fields up in,
    /// so URLs carry only the id.
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
    /// Inspect or empty the derivative cache.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Projects: every template, key, budget and usage belongs to one.
    Projects {
        #[command(subcommand)]
        action: ProjectAction,
    },
    /// People who sign in. Passwords are read from TESSERA_PASSWORD or the first line of
    /// standard input, never from the command line (other users can see it).
    Users {
        #[command(subcommand)]
        action: UserAction,
    },
    /// API keys: a secret shown once, a role per project.
    Keys {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Usage per project, template, version and day, as CSV (or JSON Lines): what the
    /// server had written by its last flush.
    Usage {
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        template: Option<String>,
        #[arg(long)]
        version: Option<u32>,
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: Option<String>,
        /// Last day, YYYY-MM-DD.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        jsonl: bool,
    },
}

#[derive(Subcommand)]
enum ProjectAction {
    /// Create a project (its own signing keys are made).
    Create {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Publishing needs another person's approval.
        #[arg(long)]
        four_eyes: bool,
    },
    List,
}

#[derive(Subcommand)]
enum DataAction {
    /// A project's data sets.
    List {
        #[arg(long, default_value = "default")]
        project: String,
    },
    /// Upload a CSV or JSON table (all rows or none; every bad row listed by line).
    Upload {
        #[arg(long, default_value = "default")]
        project: String,
        /// The data set's name.
        set: String,
        /// The column that keys the rows (an opaque id, never an address).
        #[arg(long)]
        key: String,
        /// replace: the upload becomes the set; upsert: rows are added or replaced.
        #[arg(long, default_value = "replace")]
        mode: String,
        /// Seconds the uploaded rows live.
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<u64>,
        /// The table (CSV, or JSON: an array of objects or one object per line). Default:
        /// standard input.
        file: Option<PathBuf>,
    },
    /// Delete rows by key, with their cached renders.
    Delete {
        #[arg(long, default_value = "default")]
        project: String,
        /// The data set's name.
        set: String,
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Delete a data set, its rows and their cached renders.
    Drop {
        #[arg(long, default_value = "default")]
        project: String,
        /// The data set's name.
        set: String,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user, optionally with a role in a project.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "default")]
        project: String,
        /// owner, admin, designer, publisher, operator or viewer.
        #[arg(long)]
        role: Option<String>,
    },
    List,
    /// Set a user's password.
    Passwd {
        #[arg(long)]
        email: String,
    },
    Disable {
        #[arg(long)]
        email: String,
    },
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Give a user (email or user:N) or key (key:tsk_…) a role in a project.
    Grant {
        member: String,
        #[arg(long, default_value = "default")]
        project: String,
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand)]
enum KeyAction {
    /// Make a key and print its secret (once).
    Create {
        #[arg(long)]
        name: String,
        /// PROJECT:ROLE, repeatable.
        #[arg(long = "role", value_name = "PROJECT:ROLE", required = true)]
        roles: Vec<String>,
        /// Seconds until the key stops working.
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u64>,
    },
    List,
    Revoke {
        prefix: String,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Write the audit trail as CSV (default) or JSON Lines.
    Export {
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        target: Option<String>,
        /// Unix seconds, inclusive.
        #[arg(long)]
        from: Option<u64>,
        #[arg(long)]
        to: Option<u64>,
        #[arg(long)]
        jsonl: bool,
    },
}

#[derive(Subcommand)]
enum CacheAction {
    /// Entries and bytes on disk.
    Stats,
    /// Remove the derivatives of one identifier, or of everything.
    Purge {
        /// Identifier whose derivatives to remove (`tpl~name~…`: every render of that
        /// template); all when absent.
        identifier: Option<String>,
    },
}

/// Quotes a value as a TOML string for a `--set` setting.
fn toml_string(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

fn load(common: Common, bind: Option<String>) -> Result<Config, String> {
    let mut all = Vec::new();
    let mut path_setting = |key: &str, v: Option<PathBuf>| {
        if let Some(v) = v {
            all.push(format!("{key}={}", toml_string(&v.to_string_lossy())));
        }
    };
    path_setting("source.root", common.root);
    path_setting("data.dir", common.data_dir);
    path_setting("cache.dir", common.cache_dir);
    if let Some(b) = bind {
        all.push(format!("server.bind={}", toml_string(&b)));
    }
    all.extend(common.settings);
    let overrides = Overrides {
        file: common.config,
        settings: all,
    };
    let config = Config::load(&overrides, std::env::vars()).map_err(|e| e.to_string())?;
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    Ok(config.with_paths_under(&cwd))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let bind = match &cli.command {
        Command::Serve { bind } => bind.clone(),
        _ => None,
    };
    let result = load(cli.common, bind).and_then(|config| {
        init_logging(&config.log.level);
        match cli.command {
            Command::Serve { .. } => serve(config),
            Command::Ingest { dir } => run_ingest(config, dir),
            Command::Cache { action } => cache(config, action),
            Command::Projects { action } => team(&config, Team::Project(action)),
            Command::Users { action } => team(&config, Team::User(action)),
            Command::Keys { action } => team(&config, Team::Key(action)),
            Command::Data { action } => data(&config, action),
            Command::Audit { action } => team(&config, Team::Audit(action)),
            Command::Usage {
                project,
                template,
                version,
                from,
                to,
                jsonl,
            } => usage(
                &config,
                &UsageFilter {
                    project,
                    template,
                    version,
                    from,
                    to,
                },
                jsonl,
            ),
            Command::Seal {
                name,
                version,
                input,
                output,
                base_url,
                request,
                valid_for,
                skip_bad_rows,
            } => seal(
                &config,
                (&name, version),
                (input, output),
                base_url,
                &request,
                (valid_for, skip_bad_rows),
            ),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(config: Config) -> Result<(), String> {
    let state = tessera::http::AppState::new(config).map_err(|e| e.to_string())?;
    actix_web::rt::System::new()
        .block_on(tessera::http::serve(state))
        .map_err(|e| e.to_string())
}

/// The image root's files, and the catalogued sources read from them.
fn sources(config: &Config) -> Result<(Arc<FileStore>, Sources), String> {
    let root = &config.source.root;
    let files =
        Arc::new(FileStore::new(root).map_err(|e| format!("image root {}: {e}", root.display()))?);
    let sources = tessera::render::sources(config, files.clone()).map_err(|e| e.to_string())?;
    Ok((files, sources))
}

/// Prints a line above a progress bar. `println` on a hidden bar (no terminal) prints
/// nothing, so that case goes to stderr.
fn say(bar: &indicatif::ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

fn run_ingest(config: Config, dir: Option<PathBuf>) -> Result<(), String> {
    let (store, sources) = sources(&config)?;
    let root = store.root();
    let dir = match dir {
        Some(d) => d
            .canonicalize()
            .map_err(|e| format!("{}: {e}", d.display()))?,
        None => root.to_path_buf(),
    };
    if !dir.starts_with(root) {
        return Err(format!(
            "{} is not inside the image root {}",
            dir.display(),
            root.display()
        ));
    }
    let files = image_files(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} files, {per_sec}, eta {eta} {msg}",
        )
        .expect("valid template"),
    );
    let start = Instant::now();
    let report = ingest(root, &sources, &files, |file, outcome| {
        if let Outcome::Failed(e) = outcome {
            say(&bar, format!("unreadable: {}: {e}", file.display()));
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "ingested {} files in {secs:.1}s ({:.0}/s): {} added, {} updated, {} unchanged, {} unreadable; catalogue holds {}",
        files.len(),
        files.len() as f64 / secs.max(1e-9),
        report.added,
        report.updated,
        report.unchanged,
        report.failed,
        sources.catalogue().count().map_err(|e| e.to_string())?
    );
    if config.pyramid.min_pixels > 0 {
        build_pyramids(&config, (&store, &sources), &files)?;
    }
    Ok(())
}

/// Builds the pyramids the catalogued `files` want and do not have yet.
fn build_pyramids(
    config: &Config,
    (store, sources): (&Arc<FileStore>, &Sources),
    files: &[PathBuf],
) -> Result<(), String> {
    let settings = config.pyramid_settings();
    let dir = settings.dir.display().to_string();
    let kept = FilePyramidStore::open(&settings.dir).map_err(|e| format!("{dir}: {e}"))?;
    let source_store: Arc<dyn SourceStore> = store.clone();
    let pyramids = Pyramids::open(settings, source_store, Arc::new(kept), 1);
    let bar = indicatif::ProgressBar::new(files.len() as u64);
    let start = Instant::now();
    let (mut built, mut bytes, mut failed) = (0u64, 0u64, 0u64);
    for file in files {
        bar.inc(1);
        let Some(asset) = identifier_of(store.root(), file).and_then(|id| sources.asset(&id).ok())
        else {
            continue;
        };
        match pyramids.ensure(&asset) {
            Ok(Some(w)) => {
                built += 1;
                bytes += w.bytes;
            }
            Ok(None) => {}
            Err(e) => {
                failed += 1;
                say(&bar, format!("no pyramid for {}: {e}", file.display()));
            }
        }
    }
    bar.finish_and_clear();
    let catalogue = sources.catalogue();
    let pruned = pyramids.prune(&|hash| catalogue.content_in_use(hash).unwrap_or(true));
    println!(
        "built {built} pyramids ({:.1} MB) in {:.1}s, {failed} failed, {pruned} superseded removed; in {dir}",
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cache(config: Config, action: CacheAction) -> Result<(), String> {
    let dir = &config.cache.dir;
    match action {
        CacheAction::Stats => {
            let s = scan_stats(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            println!(
                "{}: {} entries, {} bytes ({:.1}% of cache.max_bytes)",
                dir.display(),
                s.entries,
                s.bytes,
                100.0 * s.bytes as f64 / config.cache.max_bytes.max(1) as f64
            );
        }
        CacheAction::Purge { identifier } => {
            let cache = DiskCache::open(dir, config.cache_limits())
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            let purged = match identifier {
                None => cache.purge_all().map_err(|e| e.to_string())?,
                Some(id) => purge(cache.as_ref(), &sources(&config)?.1, &id)
                    .map_err(|e| format!("{id}: {e}"))?,
            };
            println!("purged {purged} entries");
        }
    }
    Ok(())
}

/// A data command's failure: its code for the audit trail, its message for the terminal.
#[derive(Debug)]
struct Failed(tessera::error::Code, String);

impl tessera::error::Coded for Failed {
    fn code(&self) -> tessera::error::Code {
        self.0
    }
}

impl<E: tessera::error::Coded + std::fmt::Display> From<E> for Failed {
    fn from(e: E) -> Failed {
        Failed(e.code(), e.to_string())
    }
}

/// `tessera data`: acts on the catalogue database as the command line, audited like the API,
/// and removes the cached renders of changed and deleted rows.
fn data(config: &Config, action: DataAction) -> Result<(), String> {
    let access = Access::open(config, Arc::new(SystemClock)).map_err(|e| e.to_string())?;
    let path = config.catalogue_path();
    let datasets = DataSetStore::open(&path).map_err(|e| e.to_string())?;
    let templates = TemplateStore::open(&path).map_err(|e| e.to_string())?;
    let cache = DiskCache::open(&config.cache.dir, config.cache_limits())
        .map_err(|e| format!("{}: {e}", config.cache.dir.display()))?;
    let forget = |project: &str, set: &str, keys: &[String]| -> Result<u64, Failed> {
        Ok(purge_rows(
            cache.as_ref(),
            &templates,
            (project, set),
            keys,
        )?)
    };
    let now = SystemClock.unix_now();
    let done = match action {
        DataAction::List { project } => {
            for d in datasets.list(&project).map_err(|e| e.to_string())? {
                println!(
                    "{}\tkey {}\t{} rows\t{}",
                    d.name,
                    d.key_column,
                    d.rows,
                    d.columns.join(",")
                );
            }
            return Ok(());
        }
        DataAction::Upload {
            project,
            set,
            key,
            mode,
            ttl,
            file,
        } => {
            let mode = match mode.as_str() {
                "replace" => Mode::Replace,
                "upsert" => Mode::Upsert,
                _ => return Err("--mode is replace or upsert".into()),
            };
            if !valid_set_name(&set) {
                return Err("data set names are 1 to 64 letters, digits, '-' or '_'".into());
            }
            let bytes = read_input(file.as_deref())?;
            let t = &config.templates;
            let limits = Limits {
                max_bytes: t.max_dataset_bytes,
                max_rows: t.max_dataset_rows,
                ..Limits::default()
            };
            let target = format!("{project}/{set}");
            commands::audited(&access, "dataset.upload", Some(&project), &target, || {
                access.team.project(&project)?;
                let read = table::read(&bytes, Format::sniff(&bytes), &limits)
                    .and_then(|t| table::keyed(t, key.trim()));
                let keyed = match read {
                    Err(TableError::BadRows { rows, more }) => {
                        for r in &rows {
                            eprintln!("line {}: {}", r.line, r.reason);
                        }
                        return Err(Failed(
                            tessera::error::Code::BadRows,
                            format!("{} bad rows; nothing was applied", rows.len() + more),
                        ));
                    }
                    r => r?,
                };
                let applied = datasets.apply(&Upload {
                    project: &project,
                    name: &set,
                    key_column: key.trim(),
                    columns: &keyed.columns,
                    rows: &keyed.rows,
                    mode,
                    expires_at: ttl.map(|t| now.saturating_add(t)),
                    who: "cli",
                    now,
                })?;
                let removed = forget(&project, &set, &applied.stale)?;
                Ok(format!(
                    "{target}: {} rows; {} new, {} changed, {} unchanged, {} deleted; {removed} renders removed",
                    keyed.rows.len(),
                    applied.inserted,
                    applied.updated,
                    applied.unchanged,
                    applied.deleted
                ))
            })
        }
        DataAction::Delete { project, set, keys } => {
            let target = format!("{project}/{set}");
            commands::audited(
                &access,
                "dataset.delete_rows",
                Some(&project),
                &target,
                || {
                    let deleted = datasets.delete_rows(&project, &set, &keys, "cli", now)?;
                    let removed = forget(&project, &set, &deleted)?;
                    Ok(format!(
                        "{target}: {} of {} rows deleted; {removed} renders removed",
                        deleted.len(),
                        keys.len()
                    ))
                },
            )
        }
        DataAction::Drop { project, set } => {
            let target = format!("{project}/{set}");
            commands::audited(&access, "dataset.drop", Some(&project), &target, || {
                let keys = datasets.drop_set(&project, &set)?.ok_or_else(|| {
                    Failed(
                        tessera::error::Code::DataSetNotFound,
                        format!("no data set {target}"),
                    )
                })?;
                let removed = forget(&project, &set, &keys)?;
                Ok(format!(
                    "{target}: dropped with {} rows; {removed} renders removed",
                    keys.len()
                ))
            })
        }
    };
    println!("{}", done.map_err(|Failed(_, m)| m)?);
    Ok(())
}

/// The team subcommands.
enum Team {
    Project(ProjectAction),
    User(UserAction),
    Key(KeyAction),
    Audit(AuditAction),
}

/// A password from TESSERA_PASSWORD, else the first line of standard input.
fn password() -> Result<String, String> {
    if let Ok(p) = std::env::var("TESSERA_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn role(text: &str) -> Result<Role, String> {
    text.parse()
}

fn team(config: &Config, command: Team) -> Result<(), String> {
    let access = Access::open(config, Arc::new(SystemClock)).map_err(|e| e.to_string())?;
    let a = &access;
    let out = match command {
        Team::Project(ProjectAction::Create {
            id,
            name,
            four_eyes,
        }) => commands::create_project(a, &id, name.as_deref(), four_eyes),
        Team::Project(ProjectAction::List) => commands::list_projects(a),
        Team::User(UserAction::Add {
            email,
            name,
            project,
            role: r,
        }) => {
            let r = r.as_deref().map(role).transpose()?;
            commands::add_user(
                a,
                &name,
                &email,
                &password()?,
                r.map(|r| (project.as_str(), r)),
            )
        }
        Team::User(UserAction::List) => commands::list_users(a),
        Team::User(UserAction::Passwd { email }) => commands::set_password(a, &email, &password()?),
        Team::User(UserAction::Disable { email }) => commands::set_disabled(a, &email, true),
        Team::User(UserAction::Enable { email }) => commands::set_disabled(a, &email, false),
        Team::User(UserAction::Grant {
            member,
            project,
            role: r,
        }) => commands::grant(a, &member, &project, role(&r)?),
        Team::Key(KeyAction::Create {
            name,
            roles,
            expires_in,
        }) => {
            let mut map = std::collections::BTreeMap::new();
            for r in roles {
                let (p, r) = r
                    .split_once(':')
                    .ok_or_else(|| format!("--role {r}: expected PROJECT:ROLE"))?;
                map.insert(p.to_string(), role(r)?);
            }
            let expires_at = expires_in.map(|s| SystemClock.unix_now() + s);
            commands::create_key(a, &name, &map, expires_at)
        }
        Team::Key(KeyAction::List) => commands::list_keys(a),
        Team::Key(KeyAction::Revoke { prefix }) => commands::revoke_key(a, &prefix),
        Team::Audit(AuditAction::Export {
            project,
            principal,
            action,
            target,
            from,
            to,
            jsonl,
        }) => {
            let filter = AuditFilter {
                project,
                principal,
                action,
                target,
                from,
                to,
                ..AuditFilter::default()
            };
            commands::export_audit(a, &filter, jsonl)
        }
    }
    .map_err(|e| e.to_string())?;
    print!("{out}");
    if !out.ends_with('\n') {
        println!();
    }
    Ok(())
}

/// `tessera usage`: the usage report, offline.
fn usage(config: &Config, filter: &UsageFilter, jsonl: bool) -> Result<(), String> {
    let usage =
        Usage::open(&config.catalogue_path(), Arc::new(SystemClock)).map_err(|e| e.to_string())?;
    let rows = usage.report(filter).map_err(|e| e.to_string())?;
    if jsonl {
        for r in &rows {
            println!("{}", serde_json::to_string(r).map_err(|e| e.to_string())?);
        }
    } else {
        print!("{}", usage_csv(&rows));
    }
    Ok(())
}

/// `tessera seal`: a CSV of recipients to a CSV of sealed URLs.
fn seal(
    config: &Config,
    (name, version): (&str, u32),
    (input, output): (Option<PathBuf>, Option<PathBuf>),
    base_url: Option<String>,
    request: &str,
    (valid_for, skip_bad_rows): (Option<u64>, bool),
) -> Result<(), String> {
    let (project, _) = split_qualified(name);
    let keys = if project == DEFAULT_PROJECT {
        config.templates.keys.clone()
    } else {
        let team = TeamStore::open(&config.catalogue_path()).map_err(|e| e.to_string())?;
        let stored = team.signing_keys(project).map_err(|e| e.to_string())?;
        stored.as_deref().map(parse_keys).transpose()?
    }
    .ok_or("no signing keys: set templates.keys (TESSERA_TEMPLATES_KEYS)")?;
    let store = TemplateStore::open(&config.catalogue_path()).map_err(|e| e.to_string())?;
    let found = store
        .version(name, version)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("template {name} has no version {version}"))?;
    let template = parse_template(found.document.as_bytes()).map_err(|e| e.to_string())?;
    let base_url = base_url.unwrap_or_else(|| match config.server.base_url.as_str() {
        "" => format!("http://{}{}", config.server.bind, config.server.prefix),
        b => b.to_string(),
    });
    let exp = valid_for.map(|s| SystemClock.unix_now() + s);
    let job = SealJob {
        keys: &keys,
        name,
        version,
        template: &template,
        base_url: &base_url,
        request,
        exp,
    };
    let list = read_input(input.as_deref())?;
    let sealed = match seal_csv(&job, &list, skip_bad_rows) {
        Ok(s) => s,
        Err(BatchError::Table(TableError::BadRows { rows, more })) => {
            for r in &rows {
                eprintln!("line {}: {}", r.line, r.reason);
            }
            return Err(format!(
                "{} bad rows{}; nothing written (--skip-bad-rows leaves them out)",
                rows.len() + more,
                if more > 0 {
                    " (the first 1000 listed)"
                } else {
                    ""
                }
            ));
        }
        Err(e) => return Err(e.to_string()),
    };
    for r in &sealed.skipped {
        eprintln!("skipped line {}: {}", r.line, r.reason);
    }
    write_output(output.as_deref(), &sealed.csv)?;
    let skipped = sealed.skipped.len() + sealed.more_skipped;
    eprintln!(
        "sealed {} rows for {name} v{version}{}",
        sealed.rows,
        if skipped > 0 {
            format!(", skipped {skipped} bad rows")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// A whole input file, or standard input.
fn read_input(path: Option<&std::path::Path>) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    match path {
        Some(p) => bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => {
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
                .map_err(|e| format!("standard input: {e}"))?;
        }
    }
    Ok(bytes)
}

/// Writes `bytes` to a file whole (a temporary file renamed into place, so a failure never
/// leaves half of it), or to standard output.
fn write_output(path: Option<&std::path::Path>, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let Some(p) = path else {
        return std::io::stdout()
            .lock()
            .write_all(bytes)
            .map_err(|e| format!("standard output: {e}"));
    };
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = p.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, p)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", p.display())
    })
}

/// Logs to stderr (stdout carries the one "listening on" line); RUST_LOG wins over config.
fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
