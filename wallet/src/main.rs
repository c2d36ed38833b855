//! `wallet`: the Cinder wallet command line. Everything is in the library;
//! a failure is one line on stderr (with `--json`, one JSON object on
//! stdout) and exit status 1.

fn main() {
    if let Err(e) = wallet::run() {
        let json = wallet::cli::json_requested(std::env::args_os());
        wallet::write_error(&e, json, &mut std::io::stdout(), &mut std::io::stderr());
        std::process::exit(1);
    }
}
