//! Logging for the binaries: `--log` is a level or a tracing filter, and a
//! closed stderr never stops a node (a log line that cannot be written is
//! dropped, not turned into a panic).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The filter for `--log`: a level (error, warn, info, debug, trace, off),
/// or directives naming a level each (`cinder=debug,actix_web=info`). A bare
/// word that is no level is refused: tracing would take it for a target
/// name and silently log nothing.
pub fn filter(text: &str) -> Result<EnvFilter, String> {
    let bad = || {
        format!(
            "--log {text:?}: expected a level (error, warn, info, debug, trace, off) or target=level directives"
        )
    };
    let lower = text.trim().to_ascii_lowercase();
    if LEVELS.contains(&lower.as_str()) {
        // At info the story is Cinder's: the HTTP framework's internals
        // speak at warn; at debug they stay at info.
        let directives = match lower.as_str() {
            "info" => "info,actix_server=warn,actix_web=warn,actix_http=warn,hyper=warn,hyper_util=warn,reqwest=warn,mio=warn".to_string(),
            "debug" => "debug,actix_server=info,actix_http=info,hyper=info,hyper_util=info,reqwest=info,h2=info,mio=info,tokio_util=info".to_string(),
            other => other.to_string(),
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

/// Logs to stderr with `--log`'s filter; colours only on a terminal.
pub fn init(text: &str) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(filter(text)?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A closed stderr (`full-node 2>&1 | head`) must not panic the
        // task that happens to log, such as the one stopping on SIGTERM.
        .log_internal_errors(false)
        .init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_directives_pass_bare_words_do_not() {
        for ok in [
            "info",
            "DEBUG",
            "warn",
            "off",
            "cinder=debug",
            "info,cinder::p2p=trace",
        ] {
            assert!(filter(ok).is_ok(), "{ok}");
        }
        for bad in ["verbose", "loud", "info,chatty", ""] {
            let e = filter(bad).expect_err(bad);
            assert!(e.contains("expected a level"), "{e}");
        }
    }
}
