fn main() {
    // A bug of ours must still read like every other error: one line on
    // stderr and a non-zero exit, not a trace (RUST_BACKTRACE=1 keeps the
    // default report for whoever debugs it).
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|info| {
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            eprintln!(
                "Error: internal error: {}{at} (a bug in helm-ecr: please report it; RUST_BACKTRACE=1 shows more)",
                what.replace('\n', " ")
            );
        }));
    }
    std::process::exit(helm_ecr::cli::run());
}
