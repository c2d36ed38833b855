//! `wallet`: the Cinder wallet command line. Everything is in the library;
//! a failure is one line on stderr and exit status 1.

fn main() {
    if let Err(e) = wallet::run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
