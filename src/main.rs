fn main() -> std::process::ExitCode {
    gdsweep::app::cli::main_exit_code()
}
