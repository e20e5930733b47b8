//! The `tessera` binary: a thin command line over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tessera::config::{Config, Overrides};

#[derive(Parser)]
#[command(name = "tessera", version, about = "A IIIF Image API 3.0 image server")]
struct Cli {
    /// Configuration file read on top of the embedded defaults.
    #[arg(long, global = true, env = "TESSERA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the IIIF Image API.
    Serve {
        /// Address and port to listen on (server.bind).
        #[arg(long, env = "TESSERA_BIND", value_name = "ADDR:PORT")]
        bind: Option<String>,
        /// Folder of source images (source.root).
        #[arg(long, env = "TESSERA_ROOT", value_name = "DIR")]
        root: Option<PathBuf>,
        /// Folder for derived data (cache.dir).
        #[arg(long, env = "TESSERA_CACHE_DIR", value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// Any configuration key, e.g. --set image.jpeg_quality=90 (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        settings: Vec<String>,
    },
}

/// Quotes a value as a TOML string for a `--set` setting.
fn toml_string(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Serve {
        bind,
        root,
        cache_dir,
        settings,
    } = cli.command;
    let mut all = Vec::new();
    if let Some(b) = bind {
        all.push(format!("server.bind={}", toml_string(&b)));
    }
    if let Some(r) = root {
        all.push(format!("source.root={}", toml_string(&r.to_string_lossy())));
    }
    if let Some(c) = cache_dir {
        all.push(format!("cache.dir={}", toml_string(&c.to_string_lossy())));
    }
    all.extend(settings);
    let overrides = Overrides {
        file: cli.config,
        settings: all,
    };
    let config = match Config::load(&overrides, std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tessera: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log.level);
    let cwd = std::env::current_dir().unwrap_or_default();
    let state = match tessera::http::AppState::new(config.with_paths_under(&cwd)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tessera: {e}");
            return ExitCode::from(2);
        }
    };
    match actix_web::rt::System::new().block_on(tessera::http::serve(state)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e}");
            ExitCode::FAILURE
        }
    }
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
