fn main() {
    std::process::exit(helm_ecr::cli::run());
}
