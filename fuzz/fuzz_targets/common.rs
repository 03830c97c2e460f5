// Shared by every target: under `cargo fuzz` libFuzzer drives `run`; otherwise `main` runs
// `run` on each file (or each file of each directory) named on the command line.
#[cfg(not(fuzzing))]
pub fn main_with(run: fn(&[u8])) {
    let mut count = 0usize;
    for arg in std::env::args_os().skip(1) {
        let path = std::path::PathBuf::from(arg);
        let files: Vec<std::path::PathBuf> = if path.is_dir() {
            std::fs::read_dir(&path)
                .expect("corpus directory is readable")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect()
        } else {
            vec![path]
        };
        for f in files {
            let data = std::fs::read(&f).expect("corpus file is readable");
            run(&data);
            // Every prefix too: truncation is the commonest damage.
            for len in (0..data.len()).step_by(1 + data.len() / 64) {
                run(&data[..len]);
            }
            count += 1;
        }
    }
    println!("ran {count} inputs");
}

/// Declares the target's entry point: libFuzzer's under `cargo fuzz`, a corpus runner
/// otherwise.
macro_rules! fuzz_main {
    ($run:ident) => {
        #[cfg(fuzzing)]
        libfuzzer_sys::fuzz_target!(|data: &[u8]| $run(data));

        #[cfg(not(fuzzing))]
        fn main() {
            main_with($run);
        }
    };
}
