//! The usage chart: usage so far through the period, drawn as inline SVG on
//! the server (no script, nothing for the CSP to allow), with the
//! aggregator's thresholds and the customer's limits as lines. Positions are
//! computed in floating point, for drawing only; every number written as
//! text is the exact decimal.

use maud::{Markup, html};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use tally_billing::{MarkKind, UsageProgress};

use super::{day, last_day};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 4.0;
const RIGHT: f64 = 4.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 8.0;

/// One aggregator's chart; `id` makes its element ids unique on the page.
pub fn usage_chart(progress: &UsageProgress, id: &str) -> Markup {
    let last = progress.points.last().map_or(Decimal::ZERO, |p| p.quantity);
    let unit = progress.unit_name.as_deref().unwrap_or("");
    let title_id = format!("chart-{id}-title");
    let desc_id = format!("chart-{id}-desc");
    let scale = Scale::new(progress);
    html! {
        figure.chart data-chart=(progress.aggregator_id) {
            figcaption #(title_id) {
                (progress.name) ": " strong data-usage { (last) } @if !unit.is_empty() { " " (unit) } " so far"
            }
            svg viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img"
                aria-labelledby=(title_id) aria-describedby=(desc_id) preserveAspectRatio="none" {
                desc #(desc_id) { (description(progress)) }
                line.axis x1=(LEFT) y1=(scale.y(0.0)) x2=(WIDTH - RIGHT) y2=(scale.y(0.0)) {}
                @for mark in &progress.marks {
                    @let y = scale.y(to_f64(mark.value));
                    line class=(mark_class(mark.kind)) x1=(LEFT) y1=(y) x2=(WIDTH - RIGHT) y2=(y) {}
                }
                polyline.usage points=(scale.points(progress)) {}
            }
            p.axis-labels aria-hidden="true" {
                span { (day(progress.period.start())) } span { (last_day(progress.period)) }
            }
            @if !progress.marks.is_empty() {
                ul.marks {
                    @for mark in &progress.marks {
                        li class=(mark_class(mark.kind)) data-mark=(mark.value.normalize()) {
                            (mark.label) ": " (mark.value.normalize())
                        }
                    }
                }
            }
        }
    }
}

fn mark_class(kind: MarkKind) -> &'static str {
    match kind {
        MarkKind::Threshold => "mark threshold",
        MarkKind::Limit => "mark limit",
    }
}

/// What the picture says, for readers who do not see it.
fn description(progress: &UsageProgress) -> String {
    let last = progress.points.last();
    let mut text = match last {
        Some(point) => format!(
            "Usage from {} to {}: {}.",
            day(progress.period.start()),
            point.at.to_rfc3339().chars().take(10).collect::<String>(),
            point.quantity
        ),
        None => "No usage yet.".to_owned(),
    };
    for mark in &progress.marks {
        text.push_str(&format!(" {}: {}.", mark.label, mark.value.normalize()));
    }
    text
}

/// Period time to x, quantity to y.
struct Scale {
    start: f64,
    span: f64,
    top: f64,
}

impl Scale {
    fn new(progress: &UsageProgress) -> Self {
        let highest = progress
            .points
            .iter()
            .map(|p| p.quantity)
            .chain(progress.marks.iter().map(|m| m.value))
            .map(to_f64)
            .fold(0.0_f64, f64::max);
        let start = progress.period.start().as_millis() as f64;
        let end = progress.period.end().as_millis() as f64;
        Scale {
            start,
            span: (end - start).max(1.0),
            top: if highest > 0.0 { highest * 1.1 } else { 1.0 },
        }
    }

    fn x(&self, millis: i64) -> f64 {
        round(LEFT + (millis as f64 - self.start) / self.span * (WIDTH - LEFT - RIGHT))
    }

    fn y(&self, quantity: f64) -> f64 {
        let clamped = quantity.clamp(0.0, self.top);
        round(HEIGHT - BOTTOM - clamped / self.top * (HEIGHT - TOP - BOTTOM))
    }

    /// From zero at the period's start through each point.
    fn points(&self, progress: &UsageProgress) -> String {
        let start = progress.period.start().as_millis();
        let mut points = format!("{},{}", self.x(start), self.y(0.0));
        for point in &progress.points {
            points.push_str(&format!(
                " {},{}",
                self.x(point.at.as_millis()),
                self.y(to_f64(point.quantity))
            ));
        }
        points
    }
}

fn to_f64(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(0.0)
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use tally_billing::{UsageMark, UsagePoint};
    use tally_event::{Period, Timestamp};
    use tally_store::AggregatorId;

    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn progress(points: &[(&str, i64)], marks: &[(&str, i64)]) -> UsageProgress {
        UsageProgress {
            aggregator_id: AggregatorId::parse("agg_chart").unwrap(),
            name: "Calls <b>".into(),
            unit_name: Some("call".into()),
            period: Period::new(at("2024-12-01T00:00:00Z"), at("2024-12-11T00:00:00Z")).unwrap(),
            points: points
                .iter()
                .map(|(t, q)| UsagePoint {
                    at: at(t),
                    quantity: Decimal::from(*q),
                })
                .collect(),
            marks: marks
                .iter()
                .map(|(label, value)| UsageMark {
                    label: (*label).into(),
                    value: Decimal::from(*value),
                    kind: MarkKind::Limit,
                })
                .collect(),
        }
    }

    #[test]
    fn the_curve_starts_at_zero_and_the_highest_line_leaves_headroom() {
        let chart = progress(
            &[("2024-12-02T00:00:00Z", 50), ("2024-12-06T00:00:00Z", 100)],
            &[("Limit", 200)],
        );
        let scale = Scale::new(&chart);
        // 200 × 1.1 = 220 is the top: a limit never touches the frame.
        assert_eq!(scale.y(220.0), TOP);
        assert_eq!(scale.y(0.0), HEIGHT - BOTTOM);
        assert_eq!(
            scale.points(&chart),
            "4,192 67.2,150.2 320,108.4",
            "half-way through the period is half the width"
        );
    }

    #[test]
    fn names_are_escaped_and_values_written_exactly() {
        let chart = progress(&[("2024-12-02T00:00:00Z", 7)], &[("a <limit>", 12)]);
        let html = usage_chart(&chart, "s1").into_string();
        assert!(html.contains("Calls &lt;b&gt;"), "{html}");
        assert!(html.contains("a &lt;limit&gt;: 12"), "{html}");
        assert!(html.contains("<strong data-usage>7</strong>"), "{html}");
    }

    #[test]
    fn no_usage_and_no_line_still_draws_a_frame() {
        let chart = progress(&[], &[]);
        let scale = Scale::new(&chart);
        assert_eq!(scale.y(0.0), HEIGHT - BOTTOM);
        assert_eq!(scale.points(&chart), "4,192");
    }
}
