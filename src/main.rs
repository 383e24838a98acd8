fn main() -> std::process::ExitCode {
    gdsweep::cli::main_exit_code()
}
