//! `--log`: log lines on stderr, off the command's own output. The default,
//! `warn`, shows nothing in normal use; `--log debug` tells which node was
//! chosen and why the others were passed over. The same rules as the full
//! node's `--log` (a level, or `target=level` directives; a bare word that
//! is no level is refused, as tracing would take it for a target and log
//! nothing).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// `--log` when not given.
pub const DEFAULT_LOG: &str = "warn";

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The HTTP client's crates stay at info when the wallet logs at debug:
/// their connection-by-connection lines would drown its own.
const QUIET_AT_DEBUG: &str = "hyper=info,hyper_util=info,reqwest=info,h2=info,mio=info";

/// The filter for `--log`: a level (error, warn, info, debug, trace, off),
/// or directives naming a level each (`wallet=debug,cinder=info`).
pub fn filter(text: &str) -> Result<EnvFilter, String> {
    let bad = || {
        format!(
            "--log {text:?}: expected a level (error, warn, info, debug, trace, off) or target=level directives"
        )
    };
    let lower = text.trim().to_ascii_lowercase();
    if LEVELS.contains(&lower.as_str()) {
        let directives = if lower == "debug" {
            format!("debug,{QUIET_AT_DEBUG}")
        } else {
            lower
        };
        return EnvFilter::try_new(directives).map_err(|_| bad());
    }
    let every_directive_has_a_level = text.split(',').all(|d| {
        let d = d.trim();
        d.contains('=') || LEVELS.contains(&d.to_ascii_lowercase().as_str())
    });
    if !every_directive_has_a_level {
        return Err(bad());
    }
    EnvFilter::try_new(text).map_err(|_| bad())
}

/// Logs to stderr with `--log`'s filter; colours only on a terminal. A
/// line that cannot be written is dropped, never a panic.
pub fn init(text: &str) -> Result<(), String> {
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter(text)?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false)
        .finish();
    // Already set (a second call in one process): the first one stays.
    let _ = tracing::subscriber::set_global_default(subscriber);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_directives_pass_bare_words_do_not() {
        for ok in [
            "warn",
            "DEBUG",
            "off",
            "wallet=debug",
            "warn,wallet::choose=debug",
        ] {
            assert!(filter(ok).is_ok(), "{ok}");
        }
        for bad in ["verbose", "info,chatty", ""] {
            let e = filter(bad).expect_err(bad);
            assert!(e.contains("expected a level"), "{e}");
        }
    }
}
