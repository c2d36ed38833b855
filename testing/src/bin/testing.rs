//! `testing`: the populate command (see [`testing::populate`]), and
//! `testing sim`, the network simulator (see [`testing::sim`]).

fn main() {
    let mut args = std::env::args_os();
    let result = match (args.next(), args.next()) {
        (Some(_), Some(sub)) if sub == "sim" => {
            testing::sim::cli::run(std::iter::once("testing sim".into()).chain(args))
        }
        _ => testing::populate::run(),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
