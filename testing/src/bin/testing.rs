//! `testing`: the populate command (see [`testing::populate`]).

fn main() {
    if let Err(e) = testing::populate::run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
