//! The report's plots, drawn with `plotters` into SVG strings (text stays
//! text, so the page is sharp on a phone and searchable).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::OpsError;

/// A drawing area on an SVG string.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Text sizes.
const TITLE: u32 = 22;
const LABEL: u32 = 15;

fn plot_error(what: &str) -> impl Fn(DrawingAreaErrorKind<std::io::Error>) -> OpsError + '_ {
    move |e| OpsError::Plot {
        plot: what.to_string(),
        reason: e.to_string(),
    }
}

/// Draws into a new SVG of `size` pixels.
fn svg(
    what: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Area) -> Result<(), DrawingAreaErrorKind<std::io::Error>>,
) -> Result<String, OpsError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error(what))?;
        draw(&root).map_err(plot_error(what))?;
        root.present().map_err(plot_error(what))?;
    }
    Ok(out)
}

/// The colour of series `i` (a palette meant for colour-blind readers).
pub fn colour(i: usize) -> RGBColor {
    let (r, g, b) = Palette99::pick(i).to_rgba().rgb();
    RGBColor(r, g, b)
}

/// `#rrggbb` of series `i`, for HTML legends.
pub fn colour_hex(i: usize) -> String {
    let RGBColor(r, g, b) = colour(i);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Upper end of an axis showing `max` (never an empty range).
fn upper(max: f64) -> f64 {
    if max > 0.0 && max.is_finite() {
        max * 1.08
    } else {
        1.0
    }
}

/// A line of `y` over `x`, with a dashed horizontal reference (e.g. the
/// mean) when given.
pub fn line(
    what: &str,
    (x_desc, y_desc): (&str, &str),
    points: &[(f64, f64)],
    reference: Option<(f64, &str)>,
) -> Result<String, OpsError> {
    let x_max = points.iter().map(|p| p.0).fold(0.0, f64::max);
    let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max);
    svg(what, (640, 300), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(what, ("sans-serif", TITLE))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..upper(x_max), 0.0..upper(y_max))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style(("sans-serif", LABEL))
            .draw()?;
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            colour(0).stroke_width(2),
        ))?;
        if let Some((y, name)) = reference {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, y), (upper(x_max), y)],
                    6,
                    4,
                    colour(1).stroke_width(1),
                ))?
                .label(name.to_string())
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], colour(1)));
            chart
                .configure_series_labels()
                .label_font(("sans-serif", LABEL))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    })
}

/// Horizontal bars, one per `(name, value)`, in the given order.
pub fn bars(what: &str, value_desc: &str, items: &[(String, f64)]) -> Result<String, OpsError> {
    let n = items.len().max(1);
    let max = items.iter().map(|i| i.1).fold(0.0, f64::max);
    let widest = items.iter().map(|i| i.0.chars().count()).max().unwrap_or(4);
    let height = 80 + 22 * n as u32;
    svg(what, (640, height), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(what, ("sans-serif", TITLE))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size((widest as u32 * 7 + 12).min(220))
            .build_cartesian_2d(0.0..upper(max), (0..n).into_segmented())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(value_desc)
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => items.get(*i).map(|x| x.0.clone()).unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(("sans-serif", LABEL))
            .draw()?;
        chart.draw_series(items.iter().enumerate().map(|(i, (_, v))| {
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(i)),
                    (*v, SegmentValue::Exact(i + 1)),
                ],
                colour(0).filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))?;
        Ok(())
    })
}

/// Explained variance per component (bars) and cumulated (line), with the
/// chosen `k` marked.
pub fn variance(ratios: &[f64]) -> Result<String, OpsError> {
    let k = ratios.len();
    let what = "Explained variance";
    svg(what, (640, 320), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(what, ("sans-serif", TITLE))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..(k as f64 + 1.0), 0.0..1.05)?;
        chart
            .configure_mesh()
            .x_desc("component")
            .y_desc("fraction of variance")
            .label_style(("sans-serif", LABEL))
            .draw()?;
        chart
            .draw_series(ratios.iter().enumerate().map(|(i, r)| {
                let x = i as f64 + 1.0;
                Rectangle::new([(x - 0.4, 0.0), (x + 0.4, *r)], colour(0).filled())
            }))?
            .label("each component")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour(0).filled()));
        let mut sum = 0.0;
        let cumulative: Vec<(f64, f64)> = ratios
            .iter()
            .enumerate()
            .map(|(i, r)| {
                sum += r;
                (i as f64 + 1.0, sum)
            })
            .collect();
        chart
            .draw_series(LineSeries::new(cumulative, colour(1).stroke_width(2)))?
            .label(format!("cumulative: {:.3} at k = {k}", sum))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], colour(1)));
        chart
            .draw_series(DashedLineSeries::new(
                [(k as f64, 0.0), (k as f64, 1.05)],
                4,
                4,
                BLACK.stroke_width(1),
            ))?
            .label(format!("k = {k}"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleRight)
            .label_font(("sans-serif", LABEL))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        Ok(())
    })
}

/// One dot per point, coloured by its group (`groups[i]` indexes the
/// palette; the legend is the page's).
pub fn scatter(points: &[(f32, f32, usize)]) -> Result<String, OpsError> {
    let what = "First two PCA components";
    let range = |f: fn(&(f32, f32, usize)) -> f32| {
        let lo = points.iter().map(f).fold(f32::INFINITY, f32::min);
        let hi = points.iter().map(f).fold(f32::NEG_INFINITY, f32::max);
        if lo.is_finite() && hi > lo {
            let pad = (hi - lo) * 0.05;
            (lo - pad) as f64..(hi + pad) as f64
        } else {
            -1.0..1.0
        }
    };
    let (xs, ys) = (range(|p| p.0), range(|p| p.1));
    svg(what, (640, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(what, ("sans-serif", TITLE))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(xs, ys)?;
        chart
            .configure_mesh()
            .x_desc("PC 1")
            .y_desc("PC 2")
            .label_style(("sans-serif", LABEL))
            .draw()?;
        chart.draw_series(points.iter().map(|(x, y, g)| {
            Circle::new((*x as f64, *y as f64), 3, colour(*g).mix(0.75).filled())
        }))?;
        Ok(())
    })
}

/// A confusion matrix as a heat map: rows are the true labels, columns the
/// answers; each cell's shade is its share of the row, with the count
/// written in it.
pub fn confusion(title: &str, labels: &[String], matrix: &[Vec<u64>]) -> Result<String, OpsError> {
    let n = labels.len().max(1);
    let cell = if n > 24 { 14 } else { 26 };
    let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4) as u32;
    let side = (widest * 7 + 16).min(200);
    let size = (side + cell * n as u32 + 30, side + cell * n as u32 + 60);
    svg(title, size, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", TITLE))
            .margin(10)
            .x_label_area_size(side)
            .y_label_area_size(side)
            .build_cartesian_2d((0..n).into_segmented(), (0..n).into_segmented())?;
        let name = |v: &SegmentValue<usize>| match v {
            // Rows run top to bottom.
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let row_name = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < n => name(&SegmentValue::CenterOf(n - 1 - i)),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("answer")
            .y_desc("truth")
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&name)
            .y_label_formatter(&row_name)
            .x_label_style(
                ("sans-serif", LABEL)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .y_label_style(("sans-serif", LABEL))
            .draw()?;
        let mut cells = Vec::new();
        for (t, row) in matrix.iter().enumerate() {
            let total = row.iter().sum::<u64>().max(1) as f64;
            for (a, count) in row.iter().enumerate() {
                let share = *count as f64 / total;
                let y = n - 1 - t;
                let shade = RGBColor(
                    (255.0 - 200.0 * share) as u8,
                    (255.0 - 140.0 * share) as u8,
                    255,
                );
                cells.push((a, y, shade, *count, share));
            }
        }
        chart.draw_series(cells.iter().map(|(a, y, shade, _, _)| {
            Rectangle::new(
                [
                    (SegmentValue::Exact(*a), SegmentValue::Exact(*y)),
                    (SegmentValue::Exact(a + 1), SegmentValue::Exact(y + 1)),
                ],
                shade.filled(),
            )
        }))?;
        let font = ("sans-serif", if n > 24 { 8 } else { 11 });
        chart.draw_series(
            cells
                .iter()
                .filter(|c| c.3 > 0)
                .map(|(a, y, _, count, share)| {
                    let style = TextStyle::from(font.into_font())
                        .color(if *share > 0.6 { &WHITE } else { &BLACK })
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    Text::new(
                        count.to_string(),
                        (SegmentValue::CenterOf(*a), SegmentValue::CenterOf(*y)),
                        style,
                    )
                }),
        )?;
        Ok(())
    })
}
