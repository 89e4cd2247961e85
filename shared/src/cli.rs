//! What both binaries' `main` do the same way: load the configuration (or
//! exit with status 2 and one line naming the bad key) and the `migrate`
//! subcommand.

use std::path::Path;

use crate::config::{Config, ConfigError};
use crate::db::{self, DbError};

/// Loads the configuration and checks what only the client libraries can
/// tell (that the database and broker URLs parse: a port out of range, an
/// unknown `sslmode`, an unreadable CA file); on error, [`exit_config_error`].
pub fn load_config_or_exit(program: &str, path: Option<&Path>) -> Config {
    let loaded = Config::load(path).and_then(|config| {
        db::check_url("database.url", &config.database.url)?;
        for url in &config.database.read_urls {
            db::check_url("database.read_urls", url)?;
        }
        for url in config.amqp.endpoints() {
            crate::amqp::check_url(&url)?;
        }
        Ok(config)
    });
    loaded.unwrap_or_else(|error| exit_config_error(program, &error))
}

/// How a program ends on a configuration mistake, whenever it is found:
/// `<program>: <error>` (one line naming the key, no error chain or
/// backtrace) and exit status 2.
pub fn exit_config_error(program: &str, error: &ConfigError) -> ! {
    eprintln!("{program}: {error}");
    std::process::exit(2);
}

/// `migrate`: applies pending migrations and reports what it applied.
pub async fn migrate(config: &Config) -> Result<(), DbError> {
    let pool = db::build_pool(&config.database)?;
    let applied = db::migrate::run(&pool).await?;
    println!("applied {} migration(s): {applied:?}", applied.len());
    Ok(())
}
