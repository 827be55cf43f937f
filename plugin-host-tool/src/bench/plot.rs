//! `kplug bench --plot FILE.svg`: the report drawn with `plotters`' SVG backend. Text goes into
//! the SVG as `<text>` elements (plotters' built-in layout estimate, no font files), so drawing
//! needs no system library.
//!
//! Left: the invocation round trips next to a plain call, with the target and the paper's
//! range. Right: each kernel's cycles relative to native Rust (log scale) for the hardware mode,
//! the software mode, wasmi and wasm3, with the 2x target; on a board, where only one mode runs and
//! there is no native baseline, the kernels' cycles themselves.

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::RangedCoordu32;
use plotters::prelude::*;

use super::BenchError;
use super::report::{INVOKE_TARGET_CYCLES, KernelFigures, NATIVE_TARGET_RATIO, Report};

/// Picture size in pixels.
const SIZE: (u32, u32) = (1400, 560);
/// Pixels between neighbouring invocation bars (each side).
const BAR_GAP: u32 = 10;
/// Width of the left panel.
const LEFT_WIDTH: u32 = 430;
/// The paper's invocation range in cycles (0.45-0.62 us at 866 MHz).
const PAPER_CYCLES: (f64, f64) = (390.0, 540.0);
/// Bar colours: hardware, software, wasmi, wasm3 (and the invocation bars).
const COLOURS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0x2c, 0xa0, 0x2c),
];

fn failed(path: &str) -> impl Fn(String) -> BenchError + '_ {
    move |message| BenchError::Plot {
        path: path.into(),
        message,
    }
}

/// Draws `report` into the SVG file `path`.
pub fn draw(report: &Report, path: &str) -> Result<(), BenchError> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    let error = failed(path);
    root.fill(&WHITE).map_err(|e| error(e.to_string()))?;
    let title = format!(
        "kplug bench, {}: {}",
        if report.is_emulated() {
            format!("{} board (emulated)", report.location)
        } else {
            "silicon harness".to_owned()
        },
        report.cpu
    );
    let root = root
        .titled(&title, ("sans-serif", 20))
        .map_err(|e| error(e.to_string()))?;
    let (left, right) = root.split_horizontally(LEFT_WIDTH);
    invocations(report, &left).map_err(&error)?;
    kernels(report, &right).map_err(&error)?;
    root.present().map_err(|e| error(e.to_string()))?;
    Ok(())
}

fn invocations(report: &Report, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String> {
    let bars: Vec<(&str, f64)> = [
        ("plain call", report.native_call_cycles.as_ref()),
        ("null, 0 args", report.invoke_cycles.as_ref()),
        ("null, 4 args", report.invoke4_cycles.as_ref()),
        ("import call", report.import_call_cycles.as_ref()),
    ]
    .into_iter()
    .filter_map(|(label, figure)| figure.map(|figure| (label, figure.median)))
    .collect();
    let top = bars
        .iter()
        .map(|(_, value)| *value)
        .fold(PAPER_CYCLES.1, f64::max)
        * 1.15;
    let count = bars.len() as u32;
    let mut chart = ChartBuilder::on(area)
        .caption("Invocation round trip (median)", ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d((0u32..count.max(1) - 1).into_segmented(), 0f64..top)
        .map_err(|e| e.to_string())?;
    let labels: Vec<&str> = bars.iter().map(|(label, _)| *label).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(labels.len().max(1))
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(index) => labels
                .get(*index as usize)
                .map_or_else(String::new, |label| (*label).to_owned()),
            _ => String::new(),
        })
        .y_desc(if report.is_emulated() {
            "emulated TSC cycles"
        } else {
            "TSC cycles"
        })
        .y_label_formatter(&|cycles| format!("{cycles:.0}"))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [
                (SegmentValue::Exact(0), PAPER_CYCLES.0),
                (SegmentValue::Last, PAPER_CYCLES.1),
            ],
            RGBColor(0xdd, 0xdd, 0xdd).mix(0.6).filled(),
        )))
        .map_err(|e| e.to_string())?
        .label("the paper: 390-540 cycles")
        .legend(|(x, y)| {
            Rectangle::new(
                [(x, y - 5), (x + 12, y + 5)],
                RGBColor(0xdd, 0xdd, 0xdd).filled(),
            )
        });
    chart
        .draw_series(bars.iter().enumerate().map(|(index, (_, value))| {
            let index = index as u32;
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(index), 0.0),
                    (SegmentValue::Exact(index + 1), *value),
                ],
                COLOURS[0].filled(),
            );
            bar.set_margin(0, 0, BAR_GAP, BAR_GAP);
            bar
        }))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().map(|(index, (_, value))| {
            Text::new(
                format!("{value:.0}"),
                (SegmentValue::CenterOf(index as u32), *value + top * 0.02),
                ("sans-serif", 13),
            )
        }))
        .map_err(|e| e.to_string())?;
    target_line_and_legend(
        &mut chart,
        Some((INVOKE_TARGET_CYCLES, "target: 390 cycles")),
    )
}

/// Draws a horizontal target line at `target` (value, label), if any, then the legend.
fn target_line_and_legend<'a, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<SegmentedCoord<RangedCoordu32>, Y>>,
    target: Option<(f64, &str)>,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    if let Some((value, label)) = target {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(SegmentValue::Exact(0), value), (SegmentValue::Last, value)],
                RED.stroke_width(2),
            )))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| e.to_string())
}

/// One series of kernel bars: its name and a value per kernel.
type Series = (&'static str, Vec<Option<f64>>);

fn kernels(report: &Report, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String> {
    if report.kernels.is_empty() {
        return Ok(());
    }
    let relative = report
        .kernels
        .iter()
        .all(|kernel| kernel.native_cycles.is_some());
    let series: Vec<Series> = if relative {
        let over_native = |pick: fn(&KernelFigures) -> Option<f64>| {
            report
                .kernels
                .iter()
                .map(|kernel| KernelFigures::ratio(pick(kernel), kernel.native_cycles))
                .collect()
        };
        vec![
            ("kplug hardware mode", over_native(|k| k.hardware_cycles)),
            ("kplug software mode", over_native(|k| k.software_cycles)),
            ("wasmi", over_native(|k| k.wasmi_cycles)),
            ("wasm3", over_native(|k| k.wasm3_cycles)),
        ]
    } else {
        vec![
            (
                "kplug hardware mode",
                report.kernels.iter().map(|k| k.hardware_cycles).collect(),
            ),
            (
                "kplug software mode",
                report.kernels.iter().map(|k| k.software_cycles).collect(),
            ),
        ]
    };
    // A board runs one isolation mode: leave out the series it has no figures for.
    let series: Vec<Series> = series
        .into_iter()
        .filter(|(_, values)| values.iter().any(Option::is_some))
        .collect();
    let values = series
        .iter()
        .flat_map(|(_, values)| values.iter().flatten().copied());
    let (low, high) = values.fold((f64::MAX, f64::MIN), |(low, high), value| {
        (low.min(value), high.max(value))
    });
    if low > high {
        return Ok(());
    }
    let (floor, ceiling) = if relative {
        (0.5_f64.min(low * 0.8), (high * 1.5).max(4.0))
    } else {
        (low * 0.5, high * 2.0)
    };
    let slots = series.len() as u32 + 1;
    let kernels = report.kernels.len() as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(
            if relative {
                "Kernel suite: cycles relative to native Rust (log scale; lower is better)"
            } else {
                "Kernel suite: cycles per run (log scale)"
            },
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (0u32..kernels * slots - 1).into_segmented(),
            (floor..ceiling).log_scale(),
        )
        .map_err(|e| e.to_string())?;
    let names: Vec<&str> = report.kernels.iter().map(|k| k.name.as_str()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels((kernels * slots) as usize)
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(slot) if slot % slots == (slots - 1) / 2 => names
                .get((slot / slots) as usize)
                .map_or_else(String::new, |name| (*name).to_owned()),
            _ => String::new(),
        })
        .y_desc(if relative {
            "x native (same run)"
        } else {
            "emulated TSC cycles"
        })
        .y_label_formatter(&|value| {
            if relative {
                format!("{value:.1}")
            } else {
                format!("{value:.0}")
            }
        })
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(|e| e.to_string())?;
    for (index, (label, values)) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        chart
            .draw_series(values.iter().enumerate().filter_map(|(kernel, value)| {
                let value = (*value)?;
                let slot = kernel as u32 * slots + index as u32;
                Some(Rectangle::new(
                    [
                        (SegmentValue::Exact(slot), floor),
                        (SegmentValue::Exact(slot + 1), value),
                    ],
                    colour.filled(),
                ))
            }))
            .map_err(|e| e.to_string())?
            .label(*label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    let target = relative.then_some((
        NATIVE_TARGET_RATIO,
        "target: within 2x of native (suite median)",
    ));
    target_line_and_legend(&mut chart, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Figure;

    /// A report draws to an SVG that holds the title, the kernels and the target line's label.
    #[test]
    fn draws_an_svg() {
        let report = Report {
            location: "silicon".into(),
            cpu: "Test CPU".into(),
            invoke_cycles: Some(Figure {
                median: 380.0,
                ..Figure::default()
            }),
            native_call_cycles: Some(Figure {
                median: 14.0,
                ..Figure::default()
            }),
            kernels: vec![KernelFigures {
                name: "fib".into(),
                native_cycles: Some(100.0),
                hardware_cycles: Some(380.0),
                software_cycles: Some(390.0),
                wasmi_cycles: Some(2400.0),
                ..KernelFigures::default()
            }],
            ..Report::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.svg");
        draw(&report, path.to_str().unwrap()).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("Test CPU"));
        assert!(svg.contains("fib"));
        assert!(svg.contains("target: 390 cycles"));
    }
}
