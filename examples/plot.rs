//! Draw the training curves of one or several runs on one chart.
//!
//! ```text
//! cargo run --release --example plot -- out/quickstart
//! cargo run --release --example plot -- out/vae-a out/vae-b --metrics loss,kl --out compare.svg
//! ```
//!
//! Each run is a run folder (or its `metrics.jsonl`); the chart has one
//! panel per metric and one line per run, smoothed over the faint raw
//! values. Training runs draw their own `curves.png` and `curves.svg` at
//! every checkpoint; this draws any of them again, or several together.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use generative::core::curves::{CurveOptions, MetricsLog, plot};
use generative::core::{self as gcore};

/// Draw the training curves of runs (their metrics.jsonl) as a PNG or SVG chart.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Run folders, or metrics.jsonl files.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The chart: .png or .svg (default: curves.png in the only run's
    /// folder, or compare.png here for several runs).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The metrics to draw, comma separated (default: all).
    #[arg(long, value_delimiter = ',')]
    metrics: Option<Vec<String>>,
    /// Panels per row.
    #[arg(long, default_value_t = 3)]
    columns: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    common::exit(run(&args))
}

fn run(args: &Args) -> gcore::Result<()> {
    let runs = args
        .runs
        .iter()
        .map(MetricsLog::read)
        .collect::<gcore::Result<Vec<_>>>()?;
    let out = match (&args.out, args.runs.as_slice()) {
        (Some(out), _) => out.clone(),
        (None, [one]) if one.is_dir() => one.join("curves.png"),
        (None, _) => PathBuf::from("compare.png"),
    };
    let options = CurveOptions {
        metrics: args.metrics.clone(),
        columns: args.columns,
        ..CurveOptions::default()
    };
    plot(&runs, &out, &options)?;
    println!("chart: {}", common::display(&out));
    Ok(())
}
