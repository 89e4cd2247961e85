//! What both binaries' `main` do the same way: load the configuration (or
//! exit with status 2 and one line naming the bad key) and the `migrate`
//! subcommand.

use std::path::Path;

use crate::config::Config;
use crate::db::{self, DbError};

/// Loads the configuration; on error prints `<program>: <error>` and exits 2.
pub fn load_config_or_exit(program: &str, path: Option<&Path>) -> Config {
    Config::load(path).unwrap_or_else(|error| {
        eprintln!("{program}: {error}");
        std::process::exit(2);
    })
}

/// `migrate`: applies pending migrations and reports what it applied.
pub async fn migrate(config: &Config) -> Result<(), DbError> {
    let pool = db::build_pool(&config.database)?;
    let applied = db::migrate::run(&pool).await?;
    println!("applied {} migration(s): {applied:?}", applied.len());
    Ok(())
}
