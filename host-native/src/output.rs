//! Lines for people: stdout that survives a closed pipe, and error lines prefixed like every
//! other error of the binary. Bottom floor: used by the commands and by `run`'s readiness
//! record; uses nothing of this crate.

use std::io::Write;

/// Prints one error line to stderr, prefixed like every other error of the binary.
pub(crate) fn print_error_line(msg: &str) {
    eprintln!("torrent_service: {msg}");
}

/// Prints a line to stdout; a closed pipe (`torrent_service inspect x | head`) ends the
/// process quietly instead of panicking like `println!`.
pub(crate) fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("torrent_service: writing to stdout: {e}");
        std::process::exit(2);
    }
}

/// `println!` through `output::print_line` (a closed pipe ends the process quietly).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::print_line(&format!($($arg)*)) };
}
