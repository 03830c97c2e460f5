//! `wasm-imports FILE.wasm [--expect-exports a,b,c]`: fails if the module imports anything
//! (a guest that imports `env` or `wasi` functions would not run in our capped sandbox or
//! would smuggle host access in), or lacks an expected export.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use wasmparser::{Parser as WasmParser, Payload};

/// Checks that a wasm module imports nothing.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The module to check.
    file: std::path::PathBuf,
    /// Comma-separated exports the module must have.
    #[arg(long, value_delimiter = ',')]
    expect_exports: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match check(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("wasm-imports: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn check(args: &Args) -> Result<bool> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    for payload in WasmParser::new(0).parse_all(&bytes) {
        match payload.context("parsing module")? {
            Payload::ImportSection(reader) => {
                for imp in reader {
                    let imp = imp?;
                    imports.push(format!("{}::{}", imp.module, imp.name));
                }
            }
            Payload::ExportSection(reader) => {
                for exp in reader {
                    exports.push(exp?.name.to_string());
                }
            }
            _ => {}
        }
    }
    let missing: Vec<&String> = args
        .expect_exports
        .iter()
        .filter(|e| !exports.contains(e))
        .collect();
    println!(
        "{}: {} imports, exports: {}",
        args.file.display(),
        imports.len(),
        exports.join(", ")
    );
    for i in &imports {
        println!("  import {i}");
    }
    for m in &missing {
        println!("  missing export {m}");
    }
    Ok(imports.is_empty() && missing.is_empty())
}
