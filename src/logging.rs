//! Logging for the binaries: `--log` is a level or a tracing filter,
//! `--log-format` plain text or one JSON object a line, and a closed stderr
//! never stops a node (a log line that cannot be written is dropped, not
//! turned into a panic).

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

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (colours only on a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`
    /// and the event's own fields (`height`, `hash`, …) at the top level.
    Json,
}

impl LogFormat {
    /// The values `--log-format` takes.
    pub const NAMES: [&'static str; 2] = ["text", "json"];
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("--log-format {other:?}: expected text or json")),
        }
    }
}

/// Logs to stderr with `--log`'s filter, as text.
pub fn init(text: &str) -> Result<(), String> {
    init_with_format(text, LogFormat::Text)
}

/// Logs to stderr with `--log`'s filter in `format` (`--log-format`).
pub fn init_with_format(text: &str, format: LogFormat) -> Result<(), String> {
    let filter = filter(text)?;
    // A closed stderr (`full-node 2>&1 | head`) must not panic the task
    // that happens to log, such as the one stopping on SIGTERM.
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .log_internal_errors(false)
            .init(),
        LogFormat::Json => {
            use tracing_subscriber::util::SubscriberInitExt;
            json_subscriber(filter, std::io::stderr).init()
        }
    }
    Ok(())
}

/// The JSON subscriber of [`init_with_format`], writing to `writer` (a
/// test's buffer).
fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        // The event's fields beside `level` and `message`, not nested
        // under `fields`: `jq 'select(.message == "block connected") | .height'`.
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .log_internal_errors(false)
        .finish()
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

    #[test]
    fn formats_are_text_and_json() {
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(LogFormat::default(), LogFormat::Text);
        for name in LogFormat::NAMES {
            assert!(name.parse::<LogFormat>().is_ok(), "{name}");
        }
        let e = "JSON5".parse::<LogFormat>().expect_err("not a format");
        assert!(e.contains("expected text or json"), "{e}");
    }

    /// A buffer the JSON subscriber writes to.
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_the_fields_at_the_top_level() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = json_subscriber(filter("info").unwrap(), move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(height = 7u64, hash = %"ab12", transactions = 3usize, origin = "api", "block");
            tracing::debug!("filtered out at info");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(lines[0]).expect("a JSON line");
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["message"], "block", "{line}");
        assert_eq!(line["height"], 7, "{line}");
        assert_eq!(line["hash"], "ab12", "{line}");
        assert_eq!(line["transactions"], 3, "{line}");
        assert_eq!(line["origin"], "api", "{line}");
        assert!(line["timestamp"].is_string(), "{line}");
    }
}
