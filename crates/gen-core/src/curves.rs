//! Training curves as pictures: a run's `metrics.jsonl` drawn as a PNG or
//! SVG chart, one panel per metric, several runs on one chart to compare.
//!
//! The [`Trainer`](crate::Trainer) writes `curves.png` and `curves.svg`
//! next to the metrics at every checkpoint and at the end; [`plot`] draws
//! any runs on demand (the `plot` example is its command line). Each panel
//! shows the raw values faintly and a smoothed line (an exponential moving
//! average over about a fortieth of the run) on top. Text uses an embedded
//! font (DejaVu Sans, cut to ASCII: `data/font/`), so nothing depends on
//! the fonts of the machine.
//!
//! ```
//! use gen_core::curves::{CurveOptions, MetricsLog, plot};
//!
//! let text = "{\"step\":1,\"epoch\":0.1,\"loss\":2.0}\n{\"step\":2,\"epoch\":0.2,\"loss\":1.5}\n";
//! let run = MetricsLog::parse(text, "my run");
//! assert_eq!(run.metrics().collect::<Vec<_>>(), ["loss"]);
//! let dir = tempfile::tempdir()?;
//! plot(&[run], &dir.path().join("curves.png"), &CurveOptions::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::checkpoint::write_atomic;
use crate::error::{Error, Result};

/// The columns of `metrics.jsonl` that are not metrics.
const NOT_METRICS: [&str; 3] = ["step", "epoch", "elapsed_s"];
/// Points drawn per line at most (every k-th beyond): enough for a
/// 400-pixel panel, and an SVG that stays small.
const MAX_POINTS: usize = 1500;
const FONT: &str = "sans-serif";

/// The metrics of one run, by name, as `(step, value)` points.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsLog {
    label: String,
    series: BTreeMap<String, Vec<(f64, f64)>>,
}

impl MetricsLog {
    /// Reads a `metrics.jsonl` (or the one in a run folder), labelled with
    /// the run folder's name.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("metrics.jsonl");
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let label = path.parent().and_then(Path::file_name).map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Self::parse(&text, label))
    }

    /// Parses the lines of a `metrics.jsonl`. Lines that are not JSON
    /// objects with a numeric `step` (a run killed while writing) and
    /// values that are not finite numbers are left out.
    pub fn parse(text: &str, label: impl Into<String>) -> Self {
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for line in text.lines() {
            let Ok(serde_json::Value::Object(map)) = serde_json::from_str(line) else {
                continue;
            };
            let Some(step) = map.get("step").and_then(serde_json::Value::as_f64) else {
                continue;
            };
            for (name, value) in &map {
                if let Some(v) = value.as_f64().filter(|v| v.is_finite())
                    && !NOT_METRICS.contains(&name.as_str())
                {
                    series.entry(name.clone()).or_default().push((step, v));
                }
            }
        }
        Self {
            label: label.into(),
            series,
        }
    }

    /// Renames the run (its name in a chart's legend).
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The run's name.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The names of its metrics, sorted.
    pub fn metrics(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }

    /// The points of one metric.
    pub fn series(&self, metric: &str) -> Option<&[(f64, f64)]> {
        self.series.get(metric).map(Vec::as_slice)
    }
}

/// What a chart shows and how large it is.
#[derive(Clone, Debug, PartialEq)]
pub struct CurveOptions {
    /// The metrics to draw, in this order (default: every metric of every
    /// run, sorted).
    pub metrics: Option<Vec<String>>,
    /// Panels per row, >= 1.
    pub columns: usize,
    /// The size of one panel in pixels.
    pub panel: (u32, u32),
}

impl Default for CurveOptions {
    fn default() -> Self {
        Self {
            metrics: None,
            columns: 3,
            panel: (420, 280),
        }
    }
}

/// Draws `runs` into `path`: PNG or SVG by its extension, written
/// atomically.
///
/// # Errors
/// [`Error::InvalidConfig`] for another extension, no runs, no metrics to
/// draw or a named metric that no run has; [`Error::Io`] when the file
/// cannot be written.
pub fn plot(runs: &[MetricsLog], path: &Path, options: &CurveOptions) -> Result<()> {
    let metrics = chosen_metrics(runs, options)?;
    crate::error::ensure_nonzero("columns", options.columns)?;
    let columns = options.columns.min(metrics.len());
    let rows = metrics.len().div_ceil(columns);
    let (pw, ph) = options.panel;
    let size = (pw * columns as u32, ph * rows as u32 + TITLE_HEIGHT);
    let failed = |e: String| Error::config("plot", format!("cannot draw {}: {e}", path.display()));
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    // Both backends measure text with the font (an SVG chart drawn first in
    // a process once failed with `FontUnavailable`).
    register_font();
    let bytes = match extension.to_ascii_lowercase().as_str() {
        "png" => {
            let mut buffer = vec![0u8; size.0 as usize * size.1 as usize * 3];
            draw(
                BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area(),
                runs,
                &metrics,
                (rows, columns),
            )
            .map_err(|e| failed(e.to_string()))?;
            let image = image::RgbImage::from_raw(size.0, size.1, buffer)
                .ok_or_else(|| failed("the chart's buffer has the wrong size".into()))?;
            let mut png = std::io::Cursor::new(Vec::new());
            image
                .write_to(&mut png, image::ImageFormat::Png)
                .map_err(|source| Error::Image {
                    path: path.to_path_buf(),
                    source,
                })?;
            png.into_inner()
        }
        "svg" => {
            let mut svg = String::new();
            draw(
                SVGBackend::with_string(&mut svg, size).into_drawing_area(),
                runs,
                &metrics,
                (rows, columns),
            )
            .map_err(|e| failed(e.to_string()))?;
            svg.into_bytes()
        }
        other => {
            return Err(Error::config(
                "plot",
                format!("`{other}` is not a chart format: name the file .png or .svg"),
            ));
        }
    };
    write_atomic(path, &bytes)
}

const TITLE_HEIGHT: u32 = 30;

/// The metrics to draw: the options' list (each present in some run), or
/// every metric of every run.
fn chosen_metrics(runs: &[MetricsLog], options: &CurveOptions) -> Result<Vec<String>> {
    if runs.is_empty() {
        return Err(Error::config("plot", "needs at least one run"));
    }
    let all: Vec<String> = {
        let mut names: Vec<String> = runs
            .iter()
            .flat_map(|r| r.metrics().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let metrics = match &options.metrics {
        None => all,
        Some(wanted) => {
            if let Some(missing) = wanted.iter().find(|m| !all.contains(m)) {
                return Err(Error::config(
                    "plot",
                    format!(
                        "no run has a metric `{missing}` (they have: {})",
                        all.join(", ")
                    ),
                ));
            }
            wanted.clone()
        }
    };
    if metrics.is_empty() {
        return Err(Error::config("plot", "the runs have no metrics yet"));
    }
    Ok(metrics)
}

fn register_font() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let font: &'static [u8] = include_bytes!("../data/font/DejaVuSans-ascii.ttf");
        plotters::style::register_font(FONT, FontStyle::Normal, font)
            .unwrap_or_else(|_| unreachable!("the embedded font is a valid TrueType file"));
    });
}

/// Draws the title and one panel per metric.
fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    runs: &[MetricsLog],
    metrics: &[String],
    grid: (usize, usize),
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(TITLE_HEIGHT);
    let names: Vec<&str> = runs.iter().map(MetricsLog::label).collect();
    title.titled(&names.join(" vs "), (FONT, 18))?;
    for (panel, metric) in body.split_evenly(grid).iter().zip(metrics) {
        draw_panel(panel, runs, metric)?;
    }
    root.present()
}

fn draw_panel<DB: DrawingBackend>(
    panel: &DrawingArea<DB, Shift>,
    runs: &[MetricsLog],
    metric: &str,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let lines: Vec<(&str, &[(f64, f64)])> = runs
        .iter()
        .filter_map(|r| r.series(metric).map(|s| (r.label(), s)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    let (x, y) = ranges(lines.iter().flat_map(|(_, s)| s.iter()));
    let mut chart = ChartBuilder::on(panel)
        .caption(metric, (FONT, 15))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(58)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .label_style((FONT, 11))
        .x_labels(5)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_labels(6)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (k, (label, points)) in lines.iter().enumerate() {
        let color = Palette99::pick(k).to_rgba();
        chart.draw_series(LineSeries::new(thin(points), color.mix(0.25)))?;
        chart
            .draw_series(LineSeries::new(
                thin(&smoothed(points)),
                color.stroke_width(2),
            ))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    if lines.len() > 1 {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 11))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()?;
    }
    Ok(())
}

/// The x and y ranges of the points, padded, never empty.
fn ranges<'a>(
    points: impl Iterator<Item = &'a (f64, f64)>,
) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return (0.0..1.0, 0.0..1.0);
    }
    let widen = |lo: f64, hi: f64| {
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else {
            lo.abs().max(1.0) * 0.1
        };
        (lo - pad)..(hi + pad)
    };
    let x = if x1 > x0 { x0..x1 } else { widen(x0, x1) };
    (x, widen(y0, y1))
}

/// An exponential moving average over about a fortieth of the points,
/// debiased at the start.
fn smoothed(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let span = (points.len() as f64 / 40.0).max(1.0);
    let keep = 1.0 - 2.0 / (span + 1.0);
    let (mut average, mut weight) = (0.0, 0.0);
    points
        .iter()
        .map(|&(x, y)| {
            average = keep * average + (1.0 - keep) * y;
            weight = keep * weight + (1.0 - keep);
            (x, average / weight)
        })
        .collect()
}

/// At most [`MAX_POINTS`] of `points`, evenly chosen, the last one kept.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let every = points.len().div_ceil(MAX_POINTS).max(1);
    let mut out: Vec<(f64, f64)> = points.iter().step_by(every).copied().collect();
    if let Some(&last) = points.last()
        && out.last() != Some(&last)
    {
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(label: &str, metrics: &[&str], steps: usize) -> MetricsLog {
        let mut text = String::new();
        for s in 1..=steps {
            let mut map = serde_json::Map::new();
            map.insert("step".into(), s.into());
            map.insert("epoch".into(), (s as f64 / 10.0).into());
            for (k, m) in metrics.iter().enumerate() {
                let v = 3.0 / (s as f64).sqrt() + k as f64 + 0.1 * (s as f64).sin();
                map.insert((*m).into(), v.into());
            }
            text.push_str(&serde_json::Value::Object(map).to_string());
            text.push('\n');
        }
        MetricsLog::parse(&text, label)
    }

    #[test]
    fn parses_metrics_and_skips_what_is_not_one() {
        let text = "{\"step\":1,\"epoch\":0.5,\"elapsed_s\":0.1,\"loss\":2.0,\"note\":\"x\"}\n\
                    {\"step\":2,\"loss\":NaN}\n{\"step\":3,\"loss\":1.0}\n{\"step\":4,\"lo";
        let run = MetricsLog::parse(text, "r");
        assert_eq!(run.metrics().collect::<Vec<_>>(), ["loss"]);
        assert_eq!(run.series("loss").unwrap(), [(1.0, 2.0), (3.0, 1.0)]);
    }

    #[test]
    fn draws_png_and_svg_for_one_or_several_runs() {
        let dir = tempfile::tempdir().unwrap();
        let a = log("a", &["d_loss", "g_loss"], 3000);
        let b = log("b", &["g_loss"], 50);
        let png = dir.path().join("c.png");
        plot(std::slice::from_ref(&a), &png, &CurveOptions::default()).unwrap();
        let image = image::open(&png).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (840, 310));
        // Not blank: the lines and the text are drawn.
        let dark = image
            .pixels()
            .filter(|p| p.0.iter().all(|&c| c < 128))
            .count();
        assert!(dark > 500, "{dark} dark pixels");
        let svg = dir.path().join("c.svg");
        let options = CurveOptions {
            metrics: Some(vec!["g_loss".into()]),
            ..CurveOptions::default()
        };
        plot(&[a, b], &svg, &options).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg"), "{}", &text[..200.min(text.len())]);
        assert!(
            text.contains("g_loss") && text.contains("a vs b"),
            "{}",
            &text[..2000.min(text.len())]
        );
        assert!(text.len() < 400_000, "{} bytes", text.len());
    }

    #[test]
    fn bad_requests_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let a = log("a", &["loss"], 5);
        let opts = CurveOptions::default();
        let e = plot(std::slice::from_ref(&a), &dir.path().join("c.jpg"), &opts).unwrap_err();
        assert!(e.to_string().contains(".png or .svg"), "{e}");
        let named = CurveOptions {
            metrics: Some(vec!["fid".into()]),
            ..CurveOptions::default()
        };
        let e = plot(std::slice::from_ref(&a), &dir.path().join("c.png"), &named).unwrap_err();
        assert!(e.to_string().contains("no run has a metric `fid`"), "{e}");
        assert!(plot(&[], &dir.path().join("c.png"), &opts).is_err());
        let empty = MetricsLog::parse("", "e");
        assert!(plot(&[empty], &dir.path().join("c.png"), &opts).is_err());
        let missing = dir.path().join("none").join("metrics.jsonl");
        assert!(matches!(MetricsLog::read(&missing), Err(Error::Io { .. })));
    }

    #[test]
    fn smoothing_and_thinning() {
        let flat: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, 5.0)).collect();
        assert!(
            smoothed(&flat)
                .iter()
                .all(|&(_, y)| (y - 5.0).abs() < 1e-12)
        );
        let long: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 0.0)).collect();
        let t = thin(&long);
        assert!(
            t.len() <= MAX_POINTS + 1 && t.last() == long.last(),
            "{}",
            t.len()
        );
    }
}
